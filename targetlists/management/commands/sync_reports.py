"""`manage.py sync_reports`: run "Sync Target Lists with Reports" once (for cron)."""

from django.core.management.base import BaseCommand

from targetlists.tasks import run_report_sync


class Command(BaseCommand):
    help = "Fill the target lists of every report set to sync every hour, once."

    def handle(self, *args, **options) -> None:
        self.stdout.write(run_report_sync())
