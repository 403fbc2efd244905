"""Celery tasks of the tracking app (thin wrappers; the work is in plain functions).

`check_bounce_mailboxes` is the beat entry "Check Group Email Accounts": it reads the bounce
mailboxes (tracking.mailboxes). `record_tracking_hits` is the beat entry "Record Tracking
Hits": it records the opens and clicks left in the Redis buffer (tracking.buffer).
"""

from celery import shared_task
from django.utils.translation import gettext as _

from campaigns.results.counters import count_tail
from crm.jobs import CHECK_GROUP_EMAIL_ACCOUNTS, record_run
from tracking import buffer, mailboxes


def run_bounce_check() -> str:
    """One run of "Check Group Email Accounts", recorded in the job log; returns its summary.

    Every account is read even when another fails; then, if any failed, the run is recorded
    as failed (MailboxFailure, naming each account and its error) with the summary of all.
    """
    with record_run(CHECK_GROUP_EMAIL_ACCOUNTS) as run:
        results = mailboxes.check_all()
        run.summary = "; ".join(str(result) for result in results) or _(
            "no account is set to be checked for bounces"
        )
        failed = [str(result) for result in results if result.error]
        if failed:
            raise mailboxes.MailboxFailure("; ".join(failed))
    return run.summary


@shared_task(name="tracking.tasks.check_bounce_mailboxes")
def check_bounce_mailboxes() -> str:
    return run_bounce_check()


@shared_task(name="tracking.tasks.count_results_tail")
def count_results_tail() -> None:
    """Asked for by hits recorded one by one (tracking.recording.count_tail_soon)."""
    count_tail()


@shared_task(name="tracking.tasks.record_tracking_hits")
def record_tracking_hits() -> int:
    """The beat entry "Record Tracking Hits": record every hit left in the Redis buffer, then
    count the new hits' blocks for the results pages (campaigns.results.counters.count_tail)."""
    recorded = buffer.drain_all()
    if recorded:
        count_tail()
    return recorded
