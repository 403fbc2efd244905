"""`manage.py check_bounce_mailboxes`: run "Check Group Email Accounts" once (for cron).

Until the Bounces issue lands it reads no mailbox: it only records the run in the job log
and prints how many accounts are set to be checked.
"""

from django.core.management.base import BaseCommand

from tracking.tasks import run_bounce_check


class Command(BaseCommand):
    help = "Check the group email accounts for bounced mail once (the scheduled job)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(run_bounce_check())
