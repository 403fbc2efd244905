"""Benchmark of webhook delivery (issue 17): does it keep up with a 20,000-message hourly
portion?

Run from the project root, with DATABASE_URL pointing at a PostgreSQL server:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/webhooks.py

It creates (and finally drops) its own database, mm_bench_webhooks, starts a receiver (an HTTP
server on 127.0.0.1 that verifies every delivery with the `standardwebhooks` package) behind
tests/delay_proxy.py (40 ms each way by default: a receiver that far away), records a
portion's events as the sender and the tracking do (20,000 `email.sent` in chunks of 500, one
insert each; then an `email.opened` for a quarter of them), and times the delivery loop
(webhooks.running: fan-out, claims, signed posts in WEBHOOK_CONCURRENCY threads, recording)
until the receiver has verified every event, for an endpoint taking one event per delivery
and for one taking batches of `--batch` email events. It prints events/s against the rate
the portion needs: its events over an hour, and over the few minutes the sender takes for it.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # bench/queue.py must not shadow the stdlib's queue

import argparse  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

from bench.scratch import drop_database, recreate_database, setup_django  # noqa: E402

DATABASE = "mm_bench_webhooks"
CHUNK = 500


class Counter:
    def __init__(self) -> None:
        self.events = 0
        self.requests = 0
        self.bad = 0
        self.lock = threading.Lock()


def receiver(counter: Counter, secret_box: list) -> ThreadingHTTPServer:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                payload = Webhook(secret_box[0]).verify(body, dict(self.headers))
                count = len(payload["data"]["events"]) if payload["type"] == "batch" else 1
                with counter.lock:
                    counter.events += count
                    counter.requests += 1
                status = 204
            except WebhookVerificationError:
                with counter.lock:
                    counter.bad += 1
                status = 400
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def record_portion(messages: int, open_share: float) -> int:
    """The portion's events as the sender (a chunk's email.sent in one insert) and the
    tracking record them; how many."""
    from django.db import transaction

    from crm import events

    for start in range(0, messages, CHUNK):
        with transaction.atomic():
            events.record_events(
                events.NewEvent(events.EMAIL_SENT, _data(n), ("contact", n))
                for n in range(start + 1, min(start + CHUNK, messages) + 1)
            )
    opened = range(1, messages + 1, round(1 / open_share))
    with transaction.atomic():
        events.record_events(
            events.NewEvent(events.EMAIL_OPENED, _data(n) | {"human": True}, ("contact", n))
            for n in opened
        )
    return messages + len(opened)


def _data(n: int) -> dict:
    return {
        "queue_item_id": n,
        "email": f"person{n}@example.com",
        "mass_email_id": 1,
        "campaign_id": 1,
        "person": {"type": "contact", "id": n},
    }


def run_case(url: str, batch: int, messages: int, open_share: float, box: list) -> tuple:
    from webhooks import delivery, endpoints, fanout
    from webhooks.models import Delivery, Endpoint

    Endpoint.objects.all().delete()
    endpoint, secret = endpoints.create(url, [], batch_size=batch)
    box[0] = secret
    counter = box[1]
    counter.events = counter.requests = counter.bad = 0
    total = record_portion(messages, open_share)
    started = time.monotonic()
    while counter.events < total:
        new = fanout.fan_out()
        done = delivery.deliver_due(limit=500)
        if not new and not done:
            if Delivery.objects.exclude(status="succeeded").filter(endpoint=endpoint).count():
                time.sleep(0.05)
                continue
            break
    elapsed = time.monotonic() - started
    return total, counter.events, counter.requests, counter.bad, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--open-share", type=float, default=0.25)
    parser.add_argument("--delay-ms", type=float, default=40, help="each way, by the proxy")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--skip-single", action="store_true", help="only the batched endpoint")
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL to a PostgreSQL server (any database on it).", file=sys.stderr)
        return 2
    os.environ["WEBHOOK_ALLOW_HTTP"] = "1"
    os.environ["WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    os.environ["WEBHOOK_CONCURRENCY"] = str(args.concurrency)
    bench_url = recreate_database(base_url, DATABASE)
    from tests.delay_proxy import DelayProxy

    counter, box = Counter(), ["", None]
    box[1] = counter
    server = receiver(counter, box)
    try:
        setup_django(bench_url)
        with DelayProxy(server.server_address[1], delay=args.delay_ms / 1000) as proxy:
            url = f"http://127.0.0.1:{proxy.port}/hooks"
            cases = [args.batch] if args.skip_single else [1, args.batch]
            print(
                f"{args.messages:,} messages, {args.open_share:.0%} opened; receiver "
                f"{args.delay_ms:g} ms away each way; {args.concurrency} posts at once"
            )
            for batch in cases:
                total, got, requests, bad, elapsed = run_case(
                    url, batch, args.messages, args.open_share, box
                )
                rate = got / elapsed
                print(
                    f"batch {batch:>4}: {got:,}/{total:,} events verified in {requests:,} "
                    f"requests ({bad} refused) in {elapsed:.1f} s: {rate:,.0f} events/s"
                )
                hour, five, one = total / 3600, total / 300, total / 60
                print(
                    f"   needed: {hour:,.1f}/s over the hour, {five:,.0f}/s if the portion "
                    f"goes out in 5 min, {one:,.0f}/s in 1 min: "
                    f"{rate / one:,.1f}x the 1-minute need"
                )
        return 0
    finally:
        server.shutdown()
        from django.db import connections

        connections.close_all()
        drop_database(base_url, DATABASE)


if __name__ == "__main__":
    sys.exit(main())
