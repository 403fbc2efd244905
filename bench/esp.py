"""Benchmark: mass email through an ESP's HTTP API (campaigns.sending.esp) against a local server
that implements the ESP's send endpoint (tests/esp_servers.py) and answers each call `--rtt-ms`
later: an API that far away.

    .venv/bin/python bench/esp.py --esp postmark --rtt-ms 40 --connections 1,10,40
    .venv/bin/python bench/esp.py --esp sendgrid --database postgres://postgres@127.0.0.1:5432/b

It makes its own database (SQLite in a temporary folder, or the PostgreSQL scratch database
given, which it EMPTIES), queues --count recipients of the newsletter bench/send.py uses, and
times one job run (run_send_job: claims, rendering, the API calls, recording) per value of
--connections, printing messages a second and the ratio to one connection. The server runs in
this process (threads), so on a busy machine it takes CPU from what is measured.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # run as a script, bench/ would come first on sys.path

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench.send import make_mass_email, setup_django  # noqa: E402


def timed_run(mass_email, count: int, connections: int) -> float:
    from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmail, MassEmailSettings
    from campaigns.sending.job import run_send_job
    from crm.models import OutboundEmailSettings

    EmailQueueItem.objects.filter(mass_email=mass_email).update(
        status="pending", sent_at=None, attempts=0, claimed_at=None, next_attempt_at=None
    )
    CampaignLogRecord.objects.all().delete()
    MassEmail.objects.filter(pk=mass_email.pk).update(status=MassEmail.Status.IN_PROCESS)
    MassEmailSettings.objects.update(max_per_batch=count)
    OutboundEmailSettings.objects.update(connections=connections)
    started = time.perf_counter()
    report = run_send_job()
    seconds = time.perf_counter() - started
    if report.sent != count:
        raise SystemExit(f"{report.sent} of {count} sent: {report.summary()}")
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--esp", default="postmark", help="postmark, mailgun, sendgrid, amazon_ses")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rtt-ms", type=float, default=40.0)
    parser.add_argument("--database", help="a scratch PostgreSQL URL (emptied); default SQLite")
    parser.add_argument(
        "--connections",
        type=lambda text: [int(n) for n in text.split(",") if n],
        default=[1, 10, 40],
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-esp-") as var_dir:
        setup_django(var_dir, arguments.database)
        from django.db import connection

        from campaigns.sending.queue import build_queue
        from crm.models import OutboundEmailSettings
        from tests.esp_servers import SERVERS, configure

        server = SERVERS[arguments.esp]().start()
        server.delay = arguments.rtt_ms / 1000
        try:
            mass_email = make_mass_email(arguments.count, 25)
            configure(OutboundEmailSettings.load(), server)
            build_queue(mass_email)
            rates = [(n, timed_run(mass_email, arguments.count, n)) for n in arguments.connections]
        finally:
            server.stop()
        print(f"database: {connection.vendor}; ESP: {arguments.esp}; recipients: {arguments.count}")
        print(f"each API call answered {arguments.rtt_ms:g} ms after it arrived")
        base = rates[0][1]
        for connections, rate in rates:
            print(
                f"  connections {connections:3}: {rate:6.0f} msgs/s ({rate / base:.1f}× the first)"
            )
        print(f"messages received by the server: {len(server.received)} in {server.requests} calls")


if __name__ == "__main__":
    main()
