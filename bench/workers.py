"""Benchmark: one mass email sent by 1, 2, … N Celery workers through a relay far away, to show
that adding a worker adds speed when the relay, not the CPU, is the limit (issue 16, point 2).

    .venv/bin/python bench/workers.py --database postgres://postgres@127.0.0.1:5432/bench_workers

Needs PostgreSQL (a scratch database, which it EMPTIES first), Redis as the broker (--broker,
default redis://127.0.0.1:6379/15, purged first) and Postfix's smtp-sink. The sink sits behind
tests/delay_proxy.py (its own process) delaying every piece --rtt-ms/2 each way; the source has
--connections sessions per worker (2 by default: few, so that the relay is the limit on two
cores, not the CPU). For each worker count, all items go back to Pending, that many real
`celery worker --pool=solo` processes start, and one `send_mass_emails` task is queued, as the
beat entry does; the time runs from the task until every item is Sent. The run hands work to
the other workers (campaigns.sending.job). Prints each count's time, rate, and speed-up against
the first count (one worker by default) in the same run, and what each job run sent.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench import scratch  # noqa: E402
from bench.send import SMTP_SINK, make_mass_email, start_delay_proxy, start_sink  # noqa: E402

READY_SECONDS = 60


class Worker:
    """One `celery worker --pool=solo` process with the benchmark's environment."""

    def __init__(self, name: str, log_dir: str):
        self.log_path = Path(log_dir) / f"{name}.log"
        command = [sys.executable, "-m", "celery", "-A", "crm", "worker", "--pool=solo"]
        command += ["--hostname", f"{name}@%h", "--without-gossip", "--without-mingle"]
        command += ["--loglevel=INFO"]
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop())
        env = {**os.environ, "LOG_LEVEL": "INFO"}
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if " ready." in self.log_path.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                raise SystemExit(f"a worker exited; see {self.log_path}")
            time.sleep(0.1)
        raise SystemExit(f"a worker was not ready within {READY_SECONDS} s; see {self.log_path}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def timed_send(mass_email, count: int, workers: int, log_dir: str) -> tuple[float, list[int]]:
    """Seconds until `workers` workers have sent every item of `mass_email` again, and what
    each job run sent (largest first)."""
    from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmail, SentMinute
    from crm.celery import app, run_task
    from crm.models import JobRun

    EmailQueueItem.objects.filter(mass_email=mass_email).update(
        status="pending", sent_at=None, attempts=0, claimed_at=None, next_attempt_at=None
    )
    CampaignLogRecord.objects.all().delete()
    SentMinute.objects.all().delete()
    JobRun.objects.all().delete()
    MassEmail.objects.filter(pk=mass_email.pk).update(status=MassEmail.Status.IN_PROCESS)
    app.control.purge()
    started_workers = [Worker(f"bench{workers}-{n}", log_dir) for n in range(workers)]
    try:
        for worker in started_workers:
            worker.wait_ready()
        started = time.perf_counter()
        run_task("campaigns.tasks.send_mass_emails")
        unsent = EmailQueueItem.objects.filter(mass_email=mass_email).exclude(status="sent")
        while unsent.exists():
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        for worker in started_workers:
            worker.stop()
    return seconds, shares(JobRun.objects.all())


def shares(runs) -> list[int]:
    """Messages each job run (the run and the helping ones) sent, from its summary ("N sent,
    …"), largest first; runs that sent nothing left out."""
    sent = []
    for run in runs:
        words = run.summary.split(" sent", 1)[0].split()
        if " sent" in run.summary and words and words[-1].isdigit() and int(words[-1]):
            sent.append(int(words[-1]))
    return sorted(sent, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="a scratch PostgreSQL URL (emptied)")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument(
        "--workers", type=lambda text: [int(n) for n in text.split(",") if n], default=[1, 2, 4]
    )
    parser.add_argument("--rtt-ms", type=float, default=40)
    parser.add_argument("--connections", type=int, default=2, help="sessions per worker")
    arguments = parser.parse_args()
    if not os.path.exists(SMTP_SINK):
        raise SystemExit(f"{SMTP_SINK} is missing: apt-get install postfix")
    os.environ.update(
        DEBUG="0",
        CELERY_BROKER_URL=arguments.broker,
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-" + secrets.token_urlsafe(32)),
    )
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as var_dir:
        scratch.setup_django(arguments.database, var_dir)
        from django.core.management import call_command

        call_command("flush", interactive=False, verbosity=0)
        from campaigns.models import MassEmailSettings
        from campaigns.sending.queue import build_queue
        from crm.models import OutboundEmailSettings

        sink, sink_port = start_sink()
        proxy, proxy_port = start_delay_proxy(sink_port, arguments.rtt_ms)
        try:
            mass_email = make_mass_email(arguments.count, proxy_port)
            MassEmailSettings.objects.update(max_per_batch=None)
            OutboundEmailSettings.objects.update(connections=arguments.connections)
            build_queue(mass_email)
            results = [
                (n, *timed_send(mass_email, arguments.count, n, var_dir)) for n in arguments.workers
            ]
        finally:
            proxy.terminate()
            proxy.wait()
            sink.terminate()
            sink.wait()
    count, rtt = arguments.count, arguments.rtt_ms
    print(f"{count} messages, relay {rtt:g} ms away, {arguments.connections} sessions a worker")
    first, first_seconds, _sent = results[0]
    for workers, seconds, sent in results:
        print(
            f"  {workers} worker(s): {seconds:6.1f} s, {count / seconds:6.0f} msgs/s, "
            f"{first_seconds / seconds:.1f}× {first} worker(s); sent by each job run: {sent}"
        )


if __name__ == "__main__":
    main()
