"""`manage.py send_mass_emails`: one run of the sending job, for cron."""

from django.core.management.base import BaseCommand, CommandError

from campaigns.sending.job import SendConfigurationError, run_recorded_send_job


class Command(BaseCommand):
    help = "Build due queues and send the next portion of every mass email in process."

    def handle(self, *args, **options) -> None:
        try:
            report = run_recorded_send_job()
        except SendConfigurationError as exc:
            raise CommandError(f"Sending stopped, check the SMTP settings: {exc}") from exc
        self.stdout.write(report.summary())
