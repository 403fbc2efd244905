"""Celery tasks of the target lists app (thin wrappers; the work is in targetlists.reports).

`sync_reports` is the beat entry "Sync Target Lists with Reports" (hourly).
"""

from celery import shared_task
from django.utils.translation import gettext as _

from crm.jobs import SYNC_REPORTS, record_run
from targetlists import reports


def run_report_sync() -> str:
    """One run of "Sync Target Lists with Reports", recorded in the job log; its summary."""
    with record_run(SYNC_REPORTS) as run:
        results = reports.sync_hourly_reports()
        run.summary = "; ".join(f"{report}: {result}" for report, result in results) or _(
            "no report is set to sync every hour"
        )
    return run.summary


@shared_task(name="targetlists.tasks.sync_reports")
def sync_reports() -> str:
    return run_report_sync()
