"""The Celery app. Tasks live in each app's tasks.py as thin wrappers around plain functions."""

import os
from functools import partial

from celery import Celery
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

app = Celery("massmail")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def run_task(name: str, *args, **options) -> None:
    """Queue the task called `name` with `args` now; `options` as apply_async takes them
    (e.g. expires).

    By name, so that the module a task wraps never imports its tasks module back (the floors and
    modules stay one-way). A task registered in this process is applied as `.delay()` would
    (eager mode included); any other is sent to the broker by name."""
    app.signature(name, args=args).apply_async(**options)


def run_task_on_commit(name: str, *args) -> None:
    """Queue the task called `name` with `args` once the current transaction commits."""
    transaction.on_commit(partial(run_task, name, *args))
