"""Celery tasks of the people app (thin wrappers; the work is in people.imports)."""

from celery import shared_task

from people import imports


@shared_task(name="people.tasks.run_import")
def run_import(import_id: int) -> str:
    done = imports.run_import(import_id)
    return f"import {import_id}: {done.get_status_display() if done else 'not queued'}"
