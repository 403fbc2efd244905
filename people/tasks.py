"""Celery tasks of the people app (thin wrappers; the work is in people.imports, people.signup)."""

from celery import shared_task
from django.conf import settings

from crm.smtp import SmtpFailure
from people import imports, signup


@shared_task(name="people.tasks.run_import")
def run_import(import_id: int) -> str:
    done = imports.run_import(import_id)
    return f"import {import_id}: {done.get_status_display() if done else 'not queued'}"


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
