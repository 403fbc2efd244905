"""Benchmark: mass email through an ESP's HTTP API (campaigns.sending.esp) against a local server
that implements the ESP's send endpoint (tests/esp_servers.py) and answers each call `--rtt-ms`
later: an API that far away.

    .venv/bin/python bench/esp.py --esp postmark --rtt-ms 40 --connections 1,10,40
    .venv/bin/python bench/esp.py --esp sendgrid,mailgun,amazon_ses --connections 10
    .venv/bin/python bench/esp.py --esp sendgrid --database postgres://postgres@127.0.0.1:5432/b

It makes its own database (SQLite in a temporary folder, or the PostgreSQL scratch database
given, which it EMPTIES), queues --count recipients of the newsletter bench/send.py uses, and
times one job run (run_send_job: claims, rendering, the API calls, recording) per ESP and value
of --connections, twice, alternately: with the ESP's batch call, and with one call per message
(EspTransport.batch_size forced to 1), printing messages a second, the calls the server
received and the ratio. The server runs in this process (threads), so on a busy machine it
takes CPU from what is measured.
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


def one_call_per_message(enabled: bool) -> None:
    """Force (or stop forcing) one API call per message, for the comparison."""
    from campaigns.sending import esp

    if enabled:
        esp.EspTransport.batch_size = property(lambda self: 1)
    else:
        esp.EspTransport.batch_size = BATCH_SIZE


BATCH_SIZE = None


def measure(name: str, arguments, mass_email) -> list[tuple[int, float, int, float, int]]:
    """(connections, batch rate, its calls, one-call rate, its calls) per --connections."""
    from crm.models import OutboundEmailSettings
    from tests.esp_servers import SERVERS, configure

    server = SERVERS[name]().start()
    server.delay = arguments.rtt_ms / 1000
    rows = []
    try:
        configure(OutboundEmailSettings.load(), server)
        for connections in arguments.connections:
            figures = {}
            for single in (False, True):
                one_call_per_message(single)
                before = server.requests
                rate = timed_run(mass_email, arguments.count, connections)
                figures[single] = (rate, server.requests - before)
            one_call_per_message(False)
            rows.append((connections, *figures[False], *figures[True]))
    finally:
        server.stop()
    return rows


def main() -> None:
    global BATCH_SIZE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--esp", default="postmark", help="comma-separated: postmark, mailgun, sendgrid, amazon_ses"
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rtt-ms", type=float, default=40.0)
    parser.add_argument("--database", help="a scratch PostgreSQL URL (emptied); default SQLite")
    parser.add_argument(
        "--connections",
        type=lambda text: [int(n) for n in text.split(",") if n],
        default=[10],
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-esp-") as var_dir:
        setup_django(var_dir, arguments.database)
        from django.db import connection

        from campaigns.sending import esp
        from campaigns.sending.queue import build_queue

        BATCH_SIZE = esp.EspTransport.batch_size
        mass_email = make_mass_email(arguments.count, 25)
        build_queue(mass_email)
        results = {name: measure(name, arguments, mass_email) for name in arguments.esp.split(",")}
        print(f"database: {connection.vendor}; recipients: {arguments.count}")
        print(f"each API call answered {arguments.rtt_ms:g} ms after it arrived")
        for name, rows in results.items():
            for connections, batch, batch_calls, single, single_calls in rows:
                print(
                    f"  {name:10} connections {connections:3}: batch call {batch:6.0f} msgs/s "
                    f"({batch_calls} calls), one call per message {single:6.0f} msgs/s "
                    f"({single_calls} calls): {batch / single:.1f}×"
                )


if __name__ == "__main__":
    main()
