"""Celery tasks of the people app (thin wrappers; the work is in people.imports, people.signup)."""

from celery import shared_task
from django.conf import settings

from crm.smtp import SmtpFailure
from people import import_undo, imports, signup


# A task delivered again while its import is still being written (the broker redelivers it
# after a worker was stopped) checks back until it can take over a stalled import, or the
# import ends.
@shared_task(bind=True, name="people.tasks.run_import", max_retries=None)
def run_import(self, import_id: int) -> str:
    done = imports.run_import(import_id)
    if done is None and imports.being_written(import_id):
        raise self.retry(countdown=settings.IMPORT_STALLED_SECONDS)
    return f"import {import_id}: {done.get_status_display() if done else 'not queued'}"


@shared_task(name="people.tasks.resume_stalled_imports")
def resume_stalled_imports() -> str:
    """The beat entry "Resume Stalled Imports": imports and undos whose worker was stopped."""
    return imports.run_recorded_resume_job()


@shared_task(bind=True, name="people.tasks.undo_import", max_retries=None)
def undo_import(self, import_id: int) -> str:
    undone = import_undo.run_undo(import_id)
    if undone is None and imports.being_written(import_id):
        raise self.retry(countdown=settings.IMPORT_STALLED_SECONDS)
    return f"import {import_id}: {'undone' if undone else 'not undone'}"


# A temporary SMTP failure (signup raises SmtpFailure only then) is tried again, waiting
# SIGNUP_CONFIRMATION_RETRY_SECONDS and doubling, SIGNUP_CONFIRMATION_RETRIES times.
@shared_task(
    name="people.tasks.send_confirmation",
    autoretry_for=(SmtpFailure,),
    max_retries=settings.SIGNUP_CONFIRMATION_RETRIES,
    retry_backoff=settings.SIGNUP_CONFIRMATION_RETRY_SECONDS,
    retry_backoff_max=settings.SIGNUP_CONFIRMATION_RETRY_SECONDS
    * 2**settings.SIGNUP_CONFIRMATION_RETRIES,
    retry_jitter=False,
)
def send_confirmation(confirmation_id: int) -> str:
    sent = signup.send_queued_confirmation(confirmation_id)
    return f"signup {confirmation_id}: {'sent' if sent else 'not sent'}"
