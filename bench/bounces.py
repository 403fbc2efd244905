"""Benchmark: one run of "Check Group Email Accounts" on 10,000 new messages, against parse().

Run from the project root; it makes its own database (SQLite in a temporary folder, or with
--database a PostgreSQL server URL, on which it creates and drops `mm_bench_bounces`) and starts
a private Dovecot (tests/imap_server.py) on a free loopback port:

    .venv/bin/python bench/bounces.py                 # 10,000 messages, SQLite
    .venv/bin/python bench/bounces.py --database postgres://postgres@127.0.0.1:5432/postgres

The mailbox is filled (its Maildir written directly, then read by Dovecot like any other) with
N mixed messages, one per sent queue item: RFC 3464 reports as Postfix writes them (hard, soft,
blocked, delay warnings), server formats (qmail, Exim, Yahoo, Gmail, Exchange 5.5, Domino,
MDaemon, SMTP32, CommuniGate, Sendmail), bent reports (in multipart/mixed, forwarded, base64
returns), feedback-loop complaints, auto-replies and ordinary mail. Then, in the same process:

  floor  tracking.bounces.parse() alone on the same N messages, from memory, before and after
         the run (the mean of the two, as other load on the machine drifts);
  run    tracking.tasks.run_bounce_check(): IMAP login, SELECT, UID SEARCH, batched UID FETCH,
         parse, one transaction per message (log row, address flags, last UID), batched STORE,
         the job's own record; counting start-up, as the job does.

It prints both rates and `run / floor`; the goal is at least 0.3. It exits 1 when the run does
not read every message, or records other outcomes than parse() finds.

With --corpus it measures instead how right parse() is on the bounce corpus
(tests/tracking/corpus: real returned mail, each message labelled hard, soft, blocked,
complaint or not a bounce), needing no database nor mailbox:

    .venv/bin/python bench/bounces.py --corpus

It prints, for the whole corpus, the part written while working and the held-out part: the
percentage read right, false positives (not a bounce, recorded as one), good addresses
invalidated (soft, blocked or not a bounce, read as hard), misses, and the same by outcome and
by the message's shape (RFC 3464 report, server's own text, feedback report). The goal: at
least 95 % right, no false positive, no good address invalidated. It exits 1 below that.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # run as a script, bench/ would come first on sys.path

import argparse  # noqa: E402
import collections  # noqa: E402
import cProfile  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from bench.scratch import setup_django  # noqa: E402

DATABASE = "mm_bench_bounces"


def make_items(count: int) -> list[SimpleNamespace]:
    """`count` sent queue items of one mass email, one contact and address each."""
    from campaigns.models import Campaign, EmailQueueItem, MassEmail
    from crm.models import Contact, EmailAddress, EmailTemplate

    campaign = Campaign.objects.create(name="Bench", type="newsletter", status="active")
    template = EmailTemplate.objects.create(name="Bench", subject="News", body_html="<p>Hi</p>")
    mass_email = MassEmail.objects.create(
        campaign=campaign, name="Bench", email_template=template, status="complete"
    )
    addresses = EmailAddress.objects.bulk_create(
        EmailAddress(address=f"r{n}@example.net", address_lower=f"r{n}@example.net")
        for n in range(count)
    )
    contacts = Contact.objects.bulk_create(
        Contact(first_name=f"R{n}", last_name="B", email_address=address)
        for n, address in enumerate(addresses)
    )
    EmailQueueItem.objects.bulk_create(
        EmailQueueItem(
            mass_email=mass_email,
            contact=contact,
            email_address=contact.email_address,
            email=contact.email_address.address,
            status="sent",
            attempts=1,
        )
        for contact in contacts
    )
    items = EmailQueueItem.objects.filter(mass_email=mass_email).order_by("pk")
    return [SimpleNamespace(pk=pk, email=email) for pk, email in items.values_list("pk", "email")]


def kinds_of_mail() -> list:
    """One maker per kind of message, each `maker(item) -> bytes`."""
    from tests.tracking import report_samples as reports
    from tests.tracking import server_samples as samples
    from tests.tracking.dsn import exim_headers_dsn, postfix_dsn

    spamhaus = "550 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"
    ordinary = b"From: customer@example.org\r\nTo: news@example.com\r\nSubject: Re: news\r\n\r\nOk."
    return [
        postfix_dsn,
        postfix_dsn,
        postfix_dsn,
        lambda item: postfix_dsn(item, status="4.2.2", diagnostic="smtp; 452 4.2.2 Mailbox full"),
        lambda item: postfix_dsn(item, status="4.4.1", action="delayed"),
        lambda item: exim_headers_dsn(item, "x", status="5.2.2"),  # no VERP: header token
        reports.outlook_blocked_dsn,
        samples.qmail,
        samples.exim_text,
        samples.exim_delay_warning,
        samples.yahoo,
        lambda item: samples.gmail_text(item, spamhaus),
        samples.exchange_55,
        samples.domino,
        samples.mdaemon,
        samples.smtp32,
        samples.communigate,
        samples.sendmail_text,
        reports.dsn_in_mixed,
        reports.dsn_forwarded,
        reports.dsn_base64_returned,
        samples.qmail_lower_cased,
        reports.arf,
        reports.auto_reply,
        lambda item: ordinary,
    ]


def fill_maildir(server_root: Path, messages: list[bytes]) -> None:
    """Write the messages into the Dovecot user's Maildir/new, owned by the mail user."""
    from tests.imap_server import _mail_user

    user = _mail_user()
    home = next(server_root.glob("attempt-*/home/bounces"))
    maildir = home / "Maildir"
    for folder in ("new", "cur", "tmp"):
        (maildir / folder).mkdir(parents=True, exist_ok=True)
    for path in (maildir, *(maildir / f for f in ("new", "cur", "tmp"))):
        os.chown(path, user.pw_uid, user.pw_gid)
    for number, raw in enumerate(messages):
        path = maildir / "new" / f"{1700000000 + number}.M{number}P1.bench"
        path.write_bytes(raw)
        os.chown(path, user.pw_uid, user.pw_gid)


def corpus_score() -> bool:
    """Print the corpus score (see the module); whether it meets the goal."""
    from tests.tracking import bounce_corpus as corpus
    from tracking import bounces

    met = True
    for title, held_out in (("all", None), ("worked on", False), ("held out", True)):
        score = corpus.score(corpus.cases(held_out=held_out), bounces.parse)
        print(
            f"\n{title}: {_tally(score.all)}" + (f"; {score.absent} absent" if score.absent else "")
        )
        for label, tallies in (("outcome", score.by_outcome), ("shape", score.by_family)):
            for name, tally in sorted(tallies.items()):
                print(f"  {label} {name:16} {_tally(tally)}")
        met = met and score.all.percent >= 95 and not score.all.false_positives
        met = met and not score.all.invalidated and not score.all.wrong_item
    print(f"\ngoal (>= 95 % right, no false positive, no good address invalidated): {met}")
    return met


def _tally(tally) -> str:
    return (
        f"{tally.right}/{tally.total} right ({tally.percent:.1f} %), "
        f"{tally.false_positives} false positives, {tally.invalidated} good addresses "
        f"invalidated, {tally.missed} missed"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="store_true", help="the corpus score, not the speed")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--database", help="a PostgreSQL server URL; default SQLite")
    parser.add_argument("--profile", action="store_true", help="print where the run's time goes")
    arguments = parser.parse_args()
    if arguments.corpus:
        setup_django(None, tempfile.mkdtemp(prefix="bench-bounces-"))
        raise SystemExit(0 if corpus_score() else 1)
    database_url = None
    if arguments.database:
        from bench.scratch import recreate_database

        database_url = recreate_database(arguments.database, DATABASE)
    var_dir = tempfile.mkdtemp(prefix="bench-bounces-")
    dovecot_root = Path(tempfile.mkdtemp(prefix="bench-dovecot-"))
    try:
        setup_django(database_url, var_dir)
        run(arguments.count, dovecot_root, arguments.profile)
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(var_dir, ignore_errors=True)
        shutil.rmtree(dovecot_root, ignore_errors=True)
        if arguments.database:
            from bench.scratch import drop_database

            drop_database(arguments.database, DATABASE)


def time_parse(messages: list[bytes]) -> tuple[float, list]:
    from tracking import bounces

    started = time.perf_counter()
    parsed = [bounces.parse(raw) for raw in messages]
    return time.perf_counter() - started, parsed


def run(count: int, dovecot_root: Path, profile: bool = False) -> None:
    from django.db import connection

    from crm.models import EmailAccount
    from tests.imap_server import _start, _stop
    from tracking.tasks import run_bounce_check

    items = make_items(count)
    makers = kinds_of_mail()
    messages = [makers[n % len(makers)](item) for n, item in enumerate(items)]

    floor_before, parsed = time_parse(messages)
    expected = collections.Counter(bounce.kind if bounce else "" for bounce in parsed)

    process, server = _start(dovecot_root)
    try:
        fill_maildir(dovecot_root, messages)
        account = EmailAccount(
            name="Bounces",
            email_address="news@example.com",
            monitor_bounces=True,
            imap_host=server.host,
            imap_port=server.port,
            imap_security="none",
            imap_username=server.username,
        )
        account.imap_password = server.password
        account.save()
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        summary = run_bounce_check()
        seconds = time.perf_counter() - started
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    finally:
        _stop(process)
    floor_after, _parsed = time_parse(messages)
    floor = (floor_before + floor_after) / 2

    print(f"database: {connection.vendor}; messages: {count} ({len(makers)} kinds, mixed)")
    print(f"parse() outcomes: {dict(sorted(expected.items()))}")
    print(
        f"floor (parse() alone):         {count / floor:7.0f} msg/s  ({floor:.2f} s; the mean "
        f"of {floor_before:.2f} s before the run and {floor_after:.2f} s after)"
    )
    print(f"run   (run_bounce_check()):    {count / seconds:7.0f} msg/s  ({seconds:.2f} s)")
    print(f"ratio run / floor: {floor / seconds:.2f} (goal >= 0.3: {floor / seconds >= 0.3})")
    print(f"job summary: {summary}")
    found = f"{count} new messages, {expected['hard']} hard bounces, {expected['soft']} soft"
    if found not in summary or f"{expected['complaint']} complaints" not in summary:
        raise SystemExit(f"the run did not record what parse() found: {summary}")


if __name__ == "__main__":
    main()
