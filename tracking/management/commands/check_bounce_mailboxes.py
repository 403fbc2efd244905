"""`manage.py check_bounce_mailboxes`: run "Check Group Email Accounts" once (for cron).

Prints what each account's run did; exits with status 1, naming the accounts that could not be
read and why, when any could not (cron then mails the administrator).
"""

from django.core.management.base import BaseCommand, CommandError

from tracking.mailboxes import MailboxFailure
from tracking.tasks import run_bounce_check


class Command(BaseCommand):
    help = "Check the group email accounts for bounced mail once (the scheduled job)."

    def handle(self, *args, **options) -> None:
        try:
            self.stdout.write(run_bounce_check())
        except MailboxFailure as exc:
            raise CommandError(str(exc)) from exc
