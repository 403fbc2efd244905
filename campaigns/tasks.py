"""Celery tasks of the campaigns app: thin wrappers around plain functions."""

from celery import shared_task

from campaigns.results.counters import update_counters
from campaigns.sending.job import run_recorded_help, run_recorded_send_job


@shared_task(name="campaigns.tasks.send_mass_emails")
def send_mass_emails() -> str:
    """The beat entry "Send Mass Emails": one run of the sending job, logged as a JobRun."""
    return run_recorded_send_job().summary()


@shared_task(name="campaigns.tasks.send_portions")
def send_portions(run_id: int) -> str:
    """A worker's help with a run of "Send Mass Emails" that asked for it."""
    return run_recorded_help(run_id).summary()


@shared_task(name="campaigns.tasks.update_results")
def update_results() -> dict[str, int]:
    """The beat entry "Update Results" (every minute): fold new log records and hits."""
    return update_counters()
