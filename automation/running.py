"""A tick inside the job log ("Run Automations"), for the beat entry and the command."""

from automation.engine import TickReport, tick
from crm.jobs import RUN_AUTOMATIONS, record_run


def run_recorded_tick() -> TickReport:
    with record_run(RUN_AUTOMATIONS) as run:
        report = tick()
        run.summary = report.summary()
        run.error = "\n".join(report.problems)
    return report
