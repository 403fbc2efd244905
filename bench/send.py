"""Benchmark: the whole sending pipeline against smtplib pushing prebuilt messages (the floor).

Run from the project root; it makes its own database (SQLite in a temporary folder, or with
--database a PostgreSQL URL of a scratch database, which it EMPTIES first) and starts Postfix's
smtp-sink on a free loopback port:

    .venv/bin/python bench/send.py                    # 20,000 recipients, SQLite
    .venv/bin/python bench/send.py --database postgres://postgres@127.0.0.1:5432/bench_send
    .venv/bin/python bench/send.py --dkim             # every message DKIM-signed (2048 bits)

In one process, one core, in the same run:
  floor     smtplib.SMTP.sendmail of copies of one prebuilt message (the pipeline's own, ~9 KB)
            over one connection per round;
  pipelined the same prebuilt messages over a raw socket with RFC 2920 pipelining: each write
            carries one message's content and the next message's MAIL, RCPT and DATA, so each
            message costs one round trip (the best one Python process can do);
  pipeline  campaigns.sending.job.run_send_job on a mass email of N queued contacts: claims in
            chunks, address re-check, rendering (three placeholders, two tracking links, the
            open pixel, the opt-out link, MIME), SMTP over the source's sessions (its
            connections, 10 by default, or --connections N), and recording
            (bulk status update and Sent log rows per chunk).
in ten alternating rounds of N/10 (the pipeline one job run per round, capped by max per batch),
so that other load on the machine slows both alike. The queue itself is built beforehand
(campaigns.sending.queue.build_queue) and timed separately. It counts the SQL statements the
pipeline's own thread runs, per chunk.

With --rtt-ms N it then measures the pipeline against a relay N ms away: the same sink behind a
proxy of its own (tests/delay_proxy.py, in its own process) that delays every piece of data N/2
ms each way, in the same run: one session (connections 1), the source's default connections,
the same without the delay, and each of --more-connections with and without the delay:

    .venv/bin/python bench/send.py --database postgres://… --rtt-ms 40 --more-connections 20,40,80
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # run as a script, bench/ would come first on sys.path

import argparse  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import smtplib  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

from bench import scratch  # noqa: E402
from bench.newsletter import add_dkim_key, template_html, tracked_links  # noqa: E402

SMTP_SINK = "/usr/sbin/smtp-sink"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_sink() -> tuple[subprocess.Popen, int]:
    port = free_port()
    # -c counts, -u drops root privileges; 1000 is the listen backlog.
    command = [SMTP_SINK, "-c", "-u", "nobody", f"127.0.0.1:{port}", "1000"]
    sink = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return sink, port
        except OSError:
            time.sleep(0.02)
    sink.kill()
    raise SystemExit(f"smtp-sink did not start on port {port}")


def setup_django(var_dir: str, database_url: str | None) -> None:
    """scratch.setup_django, then a scratch PostgreSQL database emptied (SQLite is new). The
    job sends alone: one worker process is what is measured, with DEBUG off as in production
    (with DEBUG on, Django keeps the text of every statement a worker runs)."""
    os.environ["MASS_EMAIL_HAND_OUT"] = "0"
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(32))
    scratch.setup_django(database_url, var_dir)
    if database_url:
        from django.core.management import call_command

        call_command("flush", interactive=False, verbosity=0)


def make_mass_email(count: int, port: int):
    """A Pending newsletter to `count` contacts, with the system SMTP pointed at the sink."""
    from campaigns.models import Campaign, MassEmail, MassEmailSettings
    from crm.models import Contact, EmailAddress, EmailTemplate, OutboundEmailSettings
    from targetlists.models import TargetList, TargetListEntry

    mass_settings = MassEmailSettings.load()
    mass_settings.open_tracking = True
    mass_settings.max_per_hour = count * 10
    mass_settings.site_url = "https://news.example.org"
    mass_settings.save()
    outbound = OutboundEmailSettings.load()
    outbound.smtp_host, outbound.smtp_port = "127.0.0.1", port
    outbound.from_address = "noticias@shop.example"
    outbound.save()
    campaign = Campaign.objects.create(name="Otoño", type="newsletter", status="active")
    link_ids = tracked_links(campaign)
    template = EmailTemplate.objects.create(
        name="Otoño",
        subject="¡Hola {Person.firstName}! Novedades de otoño",
        body_html=template_html(link_ids, before=9, after=4),
    )
    target_list = TargetList.objects.create(name="Clientes")
    addresses = EmailAddress.objects.bulk_create(
        EmailAddress(address=f"cliente{n}@example.net", address_lower=f"cliente{n}@example.net")
        for n in range(count)
    )
    contacts = Contact.objects.bulk_create(
        Contact(first_name=f"Ana{n}", last_name="Muñoz", email_address=address)
        for n, address in enumerate(addresses)
    )
    TargetListEntry.objects.bulk_create(
        TargetListEntry(target_list=target_list, contact=contact) for contact in contacts
    )
    mass_email = MassEmail.objects.create(
        campaign=campaign,
        name="Otoño",
        email_template=template,
        from_name="Tienda Ejemplo",
        status=MassEmail.Status.PENDING,
    )
    mass_email.target_lists.add(target_list)
    return mass_email


def analyze(vacuum: bool = False) -> None:
    """Statistics for the planner, as autovacuum would have them by the time a list this size
    is sent: without them PostgreSQL takes the freshly filled tables for empty and scans them
    whole for every chunk. With `vacuum`, the dead rows of what ran before go too."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE" if vacuum else "ANALYZE")


def enable_dkim(domain: str = "shop.example") -> None:
    """--dkim: a DKIM key for the sender's domain, so that every message is signed (the floor
    sends a prebuilt message signed once; the pipeline signs each one)."""
    add_dkim_key(domain)


def time_floor(prebuilt: bytes, count: int, port: int) -> float:
    connection = smtplib.SMTP("127.0.0.1", port)
    started = time.perf_counter()
    for n in range(count):
        connection.sendmail("noticias@shop.example", [f"floor{n}@example.net"], prebuilt)
    seconds = time.perf_counter() - started
    connection.quit()
    return seconds


def _read_reply(reader) -> int:
    while True:
        line = reader.readline()
        if not line:
            raise SystemExit("smtp-sink closed the connection")
        if line[3:4] != b"-":
            return int(line[:3])


def time_pipelined_floor(prebuilt: bytes, count: int, port: int) -> float:
    """Send `count` copies of `prebuilt` with RFC 2920 pipelining over a raw socket."""
    sock = socket.create_connection(("127.0.0.1", port))
    reader = sock.makefile("rb")
    _read_reply(reader)
    sock.sendall(b"EHLO bench.example\r\n")
    _read_reply(reader)
    content = prebuilt.replace(b"\r\n.", b"\r\n..") + b".\r\n"

    def envelope(n: int) -> bytes:
        return (
            f"MAIL FROM:<noticias@shop.example> SIZE={len(prebuilt)}\r\n"
            f"RCPT TO:<pipelined{n}@example.net>\r\nDATA\r\n"
        ).encode()

    started = time.perf_counter()
    sock.sendall(envelope(0))
    for n in range(count):
        if [_read_reply(reader) for _ in range(3)] != [250, 250, 354]:
            raise SystemExit("smtp-sink refused a pipelined message")
        sock.sendall(content + (envelope(n + 1) if n + 1 < count else b""))
        if _read_reply(reader) != 250:
            raise SystemExit("smtp-sink refused a pipelined message's content")
    seconds = time.perf_counter() - started
    sock.sendall(b"QUIT\r\n")
    sock.close()
    return seconds


def one_rendered_message(mass_email) -> bytes:
    from campaigns.authoring.rendering import CompiledMassEmail

    item = mass_email.queue_items.select_related("contact", "email_address").first()
    return CompiledMassEmail.compile(mass_email).render(item).data


def alternate(rounds: int, count: int, prebuilt: bytes, port: int) -> tuple:
    """`rounds` rounds of count/rounds messages each way, alternating which goes first, so that
    drifting load on the machine slows floor and pipeline alike. Each pipeline round is one
    run of the job, capped by max per batch."""
    from campaigns.sending.job import run_send_job

    per_round = count // rounds
    floor = pipelined = pipeline = 0.0
    reports = []
    for number in range(rounds):
        if number % 2:
            floor += time_floor(prebuilt, per_round, port)
            pipelined += time_pipelined_floor(prebuilt, per_round, port)
        started = time.perf_counter()
        reports.append(run_send_job())
        pipeline += time.perf_counter() - started
        if not number % 2:
            floor += time_floor(prebuilt, per_round, port)
            pipelined += time_pipelined_floor(prebuilt, per_round, port)
    return floor, pipelined, pipeline, reports


class StatementCounter:
    """Counts the SQL statements run on this thread's connection (django's execute_wrapper)."""

    def __init__(self) -> None:
        self.count = 0
        self.kinds: Counter = Counter()

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        self.kinds[sql[:100]] += 1
        return execute(sql, params, many, context)


def start_delay_proxy(port: int, rtt_ms: float) -> tuple[subprocess.Popen, int]:
    command = [sys.executable, "-m", "tests.delay_proxy", "--to", str(port)]
    command += ["--delay-ms", str(rtt_ms / 2)]
    proxy = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    return proxy, int(proxy.stdout.readline())


def timed_run(mass_email, count: int, port: int, connections: int) -> float:
    """Messages a second of one job run sending `count` items of `mass_email`, all Pending
    again first, through `port` with `connections` sessions."""
    from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmail, MassEmailSettings
    from campaigns.sending.job import run_send_job
    from crm.models import OutboundEmailSettings

    EmailQueueItem.objects.filter(mass_email=mass_email).update(
        status="pending", sent_at=None, attempts=0, claimed_at=None, next_attempt_at=None
    )
    CampaignLogRecord.objects.all().delete()
    MassEmail.objects.filter(pk=mass_email.pk).update(status=MassEmail.Status.IN_PROCESS)
    MassEmailSettings.objects.update(max_per_batch=count)
    OutboundEmailSettings.objects.update(smtp_port=port, connections=connections)
    started = time.perf_counter()
    report = run_send_job()
    seconds = time.perf_counter() - started
    if report.sent != count:
        raise SystemExit(f"{report.sent} of {count} sent: {report.summary()}")
    return count / seconds


def relay_far_away(mass_email, sink_port: int, arguments) -> None:
    """--rtt-ms: the pipeline to the sink directly and through a delaying proxy."""
    from crm.models import OutboundEmailSettings

    default = OutboundEmailSettings._meta.get_field("connections").default
    count = min(arguments.delayed_count, arguments.count)
    proxy, proxy_port = start_delay_proxy(sink_port, arguments.rtt_ms)
    try:
        one = timed_run(mass_email, min(count, 400), proxy_port, 1)
        far = timed_run(mass_email, count, proxy_port, default)
        near = timed_run(mass_email, count, sink_port, default)
        more = [
            (
                n,
                timed_run(mass_email, count, proxy_port, n),
                timed_run(mass_email, count, sink_port, n),
            )
            for n in arguments.more_connections
        ]
    finally:
        proxy.terminate()
        proxy.wait()
    rtt = arguments.rtt_ms
    print(f"relay {rtt:g} ms away (a proxy delaying every piece {rtt / 2:g} ms each way):")
    print(f"  connections 1, {rtt:g} ms: {one:6.0f} msgs/s (one session)")
    print(f"  connections {default}, {rtt:g} ms: {far:6.0f} msgs/s = {far / one:.1f}× one session")
    print(f"  connections {default}, direct: {near:6.0f} msgs/s; delayed/direct {far / near:.2f}")
    for connections, delayed, direct in more:
        print(f"  connections {connections}, {rtt:g} ms: {delayed:6.0f} msgs/s", end="; ")
        print(f"direct: {direct:6.0f} msgs/s; delayed/direct {delayed / direct:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--database", help="a scratch PostgreSQL URL (emptied); default SQLite")
    parser.add_argument("--dkim", action="store_true", help="DKIM-sign every message")
    parser.add_argument("--connections", type=int, help="sessions of the pipeline (default 10)")
    parser.add_argument("--rtt-ms", type=float, help="then also through a relay this far away")
    parser.add_argument("--delayed-count", type=int, default=3000, help="messages per delayed run")
    parser.add_argument(
        "--more-connections",
        type=lambda text: [int(n) for n in text.split(",") if n],
        default=[],
        help="with --rtt-ms: also these connections, e.g. 20,40,80",
    )
    arguments = parser.parse_args()
    count, rounds = arguments.count, arguments.rounds
    if not os.path.exists(SMTP_SINK):
        raise SystemExit(f"{SMTP_SINK} is missing: apt-get install postfix")
    with tempfile.TemporaryDirectory(prefix="bench-send-") as var_dir:
        setup_django(var_dir, arguments.database)
        from django.db import connection

        from campaigns.models import EmailQueueItem, MassEmailSettings
        from campaigns.sending.portion import chunk_size
        from campaigns.sending.queue import build_queue
        from crm.models import OutboundEmailSettings

        sink, port = start_sink()
        try:
            mass_email = make_mass_email(count, port)
            if arguments.dkim:
                enable_dkim()
            MassEmailSettings.objects.update(max_per_batch=count // rounds)
            if arguments.connections:
                OutboundEmailSettings.objects.update(connections=arguments.connections)
            started = time.perf_counter()
            build_queue(mass_email)
            queue_seconds = time.perf_counter() - started
            analyze()
            prebuilt = one_rendered_message(mass_email)
            statements = StatementCounter()
            with connection.execute_wrapper(statements):
                floor, pipelined, pipeline, reports = alternate(rounds, count, prebuilt, port)
            sent = EmailQueueItem.objects.filter(status="sent").count()
            size = chunk_size(OutboundEmailSettings.load().connections)
            if arguments.rtt_ms:
                relay_far_away(mass_email, port, arguments)
        finally:
            sink.terminate()
            sink.wait()
        floor_count = count // rounds * rounds
        print(f"database: {connection.vendor}; recipients: {count}; message: {len(prebuilt)} bytes")
        print(f"DKIM signing: {'on' if arguments.dkim else 'off'}")
        print(f"queue built in {queue_seconds:.2f} s (not part of the ratio)")
        print(f"{rounds} alternating rounds, one job run each (max per batch {count // rounds})")
        rates = {
            "floor    (smtplib, prebuilt)": floor_count / floor,
            "floor    (raw, RFC 2920)    ": floor_count / pipelined,
            "pipeline (run_send_job)     ": sent / pipeline,
        }
        for name, rate in rates.items():
            print(f"{name}: {rate:6.0f} msgs/s")
        pipeline_rate = rates["pipeline (run_send_job)     "]
        print(f"ratio pipeline / smtplib floor:   {pipeline_rate * floor / floor_count:.2f}")
        print(f"ratio pipeline / pipelined floor: {pipeline_rate * pipelined / floor_count:.2f}")
        chunks = sent / size + rounds  # each run's last claim finds nothing
        print(
            f"SQL statements on the pipeline's thread: {statements.count}, "
            f"{statements.count / chunks:.1f} per chunk of {size} (job run overhead included)"
        )
        for sql, n in statements.kinds.most_common(5):
            print(f"  {n:6} × {sql}")
        print(f"last job run: {reports[-1].summary()}")
        if sent != floor_count:
            raise SystemExit(f"{sent} of {floor_count} items were sent")


if __name__ == "__main__":
    main()
