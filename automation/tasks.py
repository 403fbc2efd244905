"""The beat entry "Run Automations" (every minute)."""

from celery import shared_task

from automation.running import run_recorded_tick


@shared_task(name="automation.tasks.run_automations")
def run_automations() -> str:
    return run_recorded_tick().summary()
