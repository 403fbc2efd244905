"""Bulk calls: answered at once when small, else kept as a Job and run by a Celery worker.

A list membership call with more than SYNC_ITEMS items is stored as a Job (202, Location
/api/v1/jobs/{id}); the task api.tasks.run_job claims it with a conditional UPDATE (queued, or
running but stalled for STALLED_AFTER: its worker died), then does the work, stores the
per-item results and marks it done in ONE transaction, so a worker killed halfway leaves the
job as it was, for the task delivered again (or a client polling the job) to run it once.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from api.models import Job, JobResults
from crm.celery import run_task_on_commit
from targetlists import membership
from targetlists.models import TargetList

logger = logging.getLogger(__name__)
SYNC_ITEMS = 1000
RESULTS_PER_ROW = 1000
STALLED_AFTER = timedelta(minutes=10)
Status = Job.Status

OPERATIONS = {
    "target_list_members.add": membership.add,
    "target_list_members.remove": membership.remove,
    "target_list_members.opt_out": membership.opt_out,
}


def perform(operation: str, target_list: TargetList, parameters: dict, items: list) -> list:
    """Run one membership operation; its per-item results (membership.ItemResult)."""
    selection = membership.Selection(parameters["kind"], parameters["by"], items)
    options = {}
    if operation != "target_list_members.remove":
        options["source"] = parameters.get("source", "")
    if operation == "target_list_members.add":
        options["resubscribe"] = parameters.get("resubscribe", False)
        options["consent_text"] = parameters.get("consent_text", "")
    return OPERATIONS[operation](target_list, selection, **options)


def as_json(index: int, item: membership.ItemResult) -> dict:
    return {
        "index": index,
        "value": item.value,
        "result": str(item.result),
        "ids": item.ids,
        "error": item.error,
    }


def enqueue(*, user, api_key, operation: str, target_list: TargetList, parameters, items) -> Job:
    """Keep a bulk call as a Job; its task is queued when the transaction commits."""
    job = Job.objects.create(
        user=user,
        api_key=api_key,
        operation=operation,
        target_list=target_list,
        parameters=parameters,
        items=items,
        total=len(items),
    )
    run_task_on_commit("api.tasks.run_job", job.pk)
    return job


def _claim(job_id: int) -> bool:
    now = timezone.now()
    stalled = Q(status=Status.RUNNING, started_at__lt=now - STALLED_AFTER)
    return bool(
        Job.objects.filter(Q(status=Status.QUEUED) | stalled, pk=job_id).update(
            status=Status.RUNNING, started_at=now
        )
    )


def run_job(job_id: int) -> Job | None:
    """Claim and run a job (see the module); None if another worker has it or it has ended."""
    if not _claim(job_id):
        return None
    job = Job.objects.select_related("target_list").get(pk=job_id)
    try:
        with transaction.atomic():
            if job.target_list is None:
                raise TargetList.DoesNotExist("The target list was deleted.")
            results = perform(job.operation, job.target_list, job.parameters, job.items)
            _store(job, results)
    except Exception as exc:  # noqa: BLE001  (kept on the job: its caller reads it)
        logger.exception("API job %s failed", job_id)
        Job.objects.filter(pk=job_id).update(
            status=Status.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
    job.refresh_from_db()
    return job


def _store(job: Job, results: list) -> None:
    rows = [
        JobResults(
            job=job,
            first=first,
            results=[
                [item.value, str(item.result), item.ids, item.error]
                for item in results[first : first + RESULTS_PER_ROW]
            ],
        )
        for first in range(0, len(results), RESULTS_PER_ROW)
    ]
    JobResults.objects.bulk_create(rows)
    Job.objects.filter(pk=job.pk).update(
        status=Status.DONE,
        counts=membership.counts(results),
        items=[],
        finished_at=timezone.now(),
    )


def being_run(job_id: int) -> bool:
    """Whether a worker runs the job right now (running, and not stalled)."""
    since = timezone.now() - STALLED_AFTER
    return Job.objects.filter(pk=job_id, status=Status.RUNNING, started_at__gte=since).exists()


def resume_if_stalled(job: Job) -> bool:
    """Queue a job again whose worker stopped (stalled for STALLED_AFTER); whether it was."""
    if job.status != Status.RUNNING or job.started_at > timezone.now() - STALLED_AFTER:
        return False
    run_task_on_commit("api.tasks.run_job", job.pk)
    return True


def results_page(job: Job, start: int, limit: int) -> list[dict]:
    """The item results from index `start`, at most `limit`."""
    first_row = start - start % RESULTS_PER_ROW
    rows = JobResults.objects.filter(job=job, first__gte=first_row, first__lt=start + limit)
    found = []
    for row in rows.order_by("first"):
        for offset, (value, result, ids, error) in enumerate(row.results):
            index = row.first + offset
            if start <= index < start + limit:
                item = membership.ItemResult(value, result, ids, error)
                found.append(as_json(index, item))
    return found
