"""`manage.py run_automations`: one tick of the automation engine, for cron."""

from django.core.management.base import BaseCommand

from automation.running import run_recorded_tick


class Command(BaseCommand):
    help = "Read new events, enrol people, and run every due automation step once."

    def handle(self, *args, **options) -> None:
        self.stdout.write(run_recorded_tick().summary())
