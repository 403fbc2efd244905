"""Celery tasks of the tracking app (thin wrappers; the work is in plain functions).

`check_bounce_mailboxes` is the beat entry "Check Group Email Accounts". Until the Bounces
issue lands it does no mailbox processing: it only records the run in the job log, saying
how many accounts are set to be checked. `record_tracking_hits` is the beat entry "Record
Tracking Hits": it records the opens and clicks left in the Redis buffer (tracking.buffer).
"""

from celery import shared_task
from django.utils.translation import gettext as _

from crm.jobs import CHECK_GROUP_EMAIL_ACCOUNTS, record_run
from crm.models import EmailAccount
from tracking import buffer


def run_bounce_check() -> str:
    """One run of "Check Group Email Accounts", recorded in the job log; returns its summary.

    Placeholder until the Bounces issue: no bounce mailbox is read yet.
    """
    with record_run(CHECK_GROUP_EMAIL_ACCOUNTS) as run:
        monitored = EmailAccount.objects.filter(is_active=True, monitor_bounces=True).count()
        run.summary = _("no bounce mailbox processing yet: %(count)s monitored accounts") % {
            "count": monitored
        }
    return run.summary


@shared_task(name="tracking.tasks.check_bounce_mailboxes")
def check_bounce_mailboxes() -> str:
    return run_bounce_check()


@shared_task(name="tracking.tasks.record_tracking_hits")
def record_tracking_hits() -> int:
    """The beat entry "Record Tracking Hits": record every hit left in the Redis buffer."""
    return buffer.drain_all()
