"""Scheduled jobs: their beat entries, and the log of their runs.

Each job of SCHEDULED_JOBS runs from a Celery beat entry the administrator can edit (schedule,
active) or from cron through its management command; either way it is wrapped in `record_run`,
so the admin's job log shows every run and its error (all but "Record Tracking Hits",
"Update Results" and "Deliver Webhooks", which run every minute). The apps' migrations create
the entries with `ensure_scheduled_jobs`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from crm.models import JobRun

SEND_MASS_EMAILS = "Send Mass Emails"
CHECK_GROUP_EMAIL_ACCOUNTS = "Check Group Email Accounts"
SYNC_REPORTS = "Sync Target Lists with Reports"
RECORD_TRACKING_HITS = "Record Tracking Hits"
UPDATE_RESULTS = "Update Results"
RESUME_IMPORTS = "Resume Stalled Imports"
DELIVER_WEBHOOKS = "Deliver Webhooks"
RUN_AUTOMATIONS = "Run Automations"
# Not a beat entry: a worker the "Send Mass Emails" run asked to help logs its part as this.
SEND_MASS_EMAILS_HELPING = "Send Mass Emails (helping)"


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    task: str
    minute: str = "*/5"


SCHEDULED_JOBS = (
    ScheduledJob(SEND_MASS_EMAILS, "campaigns.tasks.send_mass_emails"),
    ScheduledJob(CHECK_GROUP_EMAIL_ACCOUNTS, "tracking.tasks.check_bounce_mailboxes"),
    ScheduledJob(RECORD_TRACKING_HITS, "tracking.tasks.record_tracking_hits", minute="*"),
    ScheduledJob(SYNC_REPORTS, "targetlists.tasks.sync_reports", minute="0"),
    ScheduledJob(UPDATE_RESULTS, "campaigns.tasks.update_results", minute="*"),
    ScheduledJob(RESUME_IMPORTS, "people.tasks.resume_stalled_imports"),
    ScheduledJob(DELIVER_WEBHOOKS, "webhooks.tasks.deliver_webhooks", minute="*"),
    ScheduledJob(RUN_AUTOMATIONS, "automation.tasks.run_automations", minute="*"),
)


@contextmanager
def record_run(job: str) -> Iterator[JobRun]:
    """Log one run of `job`: a JobRun row that ends as success, or failed with the error.

    Set `run.summary` inside the block to say what the run did, and `run.error` if part of it
    failed. An exception is recorded with its text and re-raised. Use it outside any
    transaction, so the record survives a rollback.
    """
    run = JobRun.objects.create(job=job)
    try:
        yield run
    except Exception as exc:
        run.status = JobRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "summary", "finished_at"])
        raise
    # A run that did its work but reports an error (e.g. one mass email broke) is Failed too.
    run.status = JobRun.Status.FAILED if run.error else JobRun.Status.SUCCESS
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "summary", "error", "finished_at"])


def ensure_scheduled_jobs(apps=global_apps, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Create the beat entries of SCHEDULED_JOBS that do not exist yet; return their names.

    An entry that exists (by name) is left exactly as the administrator set it.
    """
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab_schedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    created = []
    for job in SCHEDULED_JOBS:
        if periodic_task.objects.using(using).filter(name=job.name).exists():
            continue
        schedule, _created = crontab_schedule.objects.using(using).get_or_create(
            minute=job.minute,
            hour="*",
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone="UTC",
        )
        periodic_task.objects.using(using).create(
            name=job.name, task=job.task, crontab=schedule, enabled=True
        )
        created.append(job.name)
    if created:
        # Tell a running DatabaseScheduler to reload its entries.
        apps.get_model("django_celery_beat", "PeriodicTasks").objects.using(using).update_or_create(
            ident=1, defaults={"last_update": timezone.now()}
        )
    return created
