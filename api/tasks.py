"""Celery tasks of the API: thin wrappers around api.jobs."""

from celery import shared_task

from api import jobs


# A task delivered again while another worker still runs its job checks back until that job
# has ended or stalled (its worker died), as the imports' tasks do.
@shared_task(bind=True, name="api.tasks.run_job", max_retries=None)
def run_job(self, job_id: int) -> str:
    done = jobs.run_job(job_id)
    if done is None and jobs.being_run(job_id):
        raise self.retry(countdown=jobs.STALLED_AFTER.total_seconds())
    return f"API job {job_id}: {done.status if done else 'not run here'}"
