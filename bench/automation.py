"""Benchmark: an automation's first step to N people who joined its list at once (a list
import), against a mass email to the same N people, both through the send job to Postfix's
smtp-sink, in one process (one worker), in the same run.

    .venv/bin/python bench/automation.py                      # 20,000 people, SQLite
    .venv/bin/python bench/automation.py --count 100000 --database postgres://postgres@127.0.0.1:5432/bench_automation

It times, for the mass email: send-job runs until it is Complete (the queue built from the
list, claims, rendering, SMTP, recording); for the automation (trigger "Joined a target
list", one send step, the same template): the N list.member_added events recorded in one
insert beforehand (the list import's own cost, untimed), then the tick (read the events, enrol
set-based, run the send steps together) and send-job runs until its mailing has nothing
pending. Prints both times and `automation / mass email` (target: at most 1.5). On PostgreSQL
each half starts after a VACUUM ANALYZE (untimed), as bench/queue.py's and results.py's do. The
automation's half runs in the same hourly window as the mass email's: its claims count the
mass email's N sends too (from counts per minute, campaigns.sending.window).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench.send import analyze, make_mass_email, setup_django, start_sink  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--database", default=None, help="a scratch PostgreSQL URL (EMPTIED)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(var_dir, arguments.database)
        sink, port = start_sink()
        try:
            return run(arguments.count, port)
        finally:
            sink.kill()


def run(count: int, port: int) -> int:

    from automation import engine
    from automation.models import Automation, Step, StepMailing
    from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings
    from campaigns.sending.job import run_send_job
    from crm import events
    from targetlists.models import TargetList, TargetListEntry

    mass_email = make_mass_email(count, port)
    MassEmailSettings.objects.update(max_per_batch=None)
    people = list(
        TargetListEntry.objects.filter(target_list__in=mass_email.target_lists.all())
        .order_by("id")
        .values_list("contact_id", flat=True)
    )

    analyze(vacuum=True)  # as autovacuum would have by then (the CI cluster runs without)
    started = time.perf_counter()
    runs = 0
    while MassEmail.objects.get(pk=mass_email.pk).status != MassEmail.Status.COMPLETE:
        run_send_job()
        runs += 1
    mass_seconds = time.perf_counter() - started
    print(f"mass email   {count:,} people: {mass_seconds:.2f} s ({runs} job runs)")

    joined = TargetList.objects.create(name="Welcome")
    automation = Automation.objects.create(
        campaign=mass_email.campaign, name="Welcome", trigger="list_joined", trigger_list=joined
    )
    Step.objects.create(
        automation=automation, order=1, kind="send", email_template=mass_email.email_template
    )
    engine.activate(automation)
    for start in range(0, count, 10_000):
        events.record_events(
            events.NewEvent(
                events.LIST_MEMBER_ADDED, {"target_list_id": joined.pk}, ("contact", pk)
            )
            for pk in people[start : start + 10_000]
        )

    analyze(vacuum=True)  # as autovacuum would have by then (the CI cluster runs without)
    started = time.perf_counter()
    report = engine.tick()
    tick_seconds = time.perf_counter() - started
    mailing = StepMailing.objects.get(step__automation=automation).mass_email
    pending = EmailQueueItem.objects.filter(mass_email=mailing, status__in=["pending", "sending"])
    runs = 0
    while pending.exists():
        run_send_job()
        runs += 1
    auto_seconds = time.perf_counter() - started
    sent = EmailQueueItem.objects.filter(mass_email=mailing, status="sent").count()
    print(
        f"automation   {count:,} people: {auto_seconds:.2f} s (tick {tick_seconds:.2f} s: "
        f"{report.summary()}; {runs} job runs; {sent:,} sent)"
    )
    ratio = auto_seconds / mass_seconds
    print(
        f"automation / mass email = {ratio:.2f} (target <= 1.5: {'yes' if ratio <= 1.5 else 'NO'})"
    )
    return 0 if sent == count else 1


if __name__ == "__main__":
    raise SystemExit(main())
