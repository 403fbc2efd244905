"""Celery tasks of the campaigns app: thin wrappers around plain functions."""

from celery import shared_task

from campaigns.sending import run_recorded_send_job


@shared_task(name="campaigns.tasks.send_mass_emails")
def send_mass_emails() -> str:
    """The beat entry "Send Mass Emails": one run of the sending job, logged as a JobRun."""
    return run_recorded_send_job().summary()
