"""Celery tasks of the webhooks app (thin wrappers; the work is in webhooks.running)."""

from celery import shared_task

from webhooks import running


@shared_task(name="webhooks.tasks.deliver_webhooks")
def deliver_webhooks() -> str:
    """The beat entry "Deliver Webhooks"."""
    return running.run_and_purge()
