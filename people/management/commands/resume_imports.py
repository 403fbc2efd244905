"""`manage.py resume_imports`: queue again the imports and undos whose worker was stopped (the
job "Resume Stalled Imports", for cron instead of beat)."""

from django.core.management.base import BaseCommand

from people import imports


class Command(BaseCommand):
    help = "Queue again the CSV imports and undos that have stalled (their worker was stopped)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(imports.run_recorded_resume_job())
