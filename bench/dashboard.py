"""The admin's first page, the marketers' dashboard (campaigns.dashboard), on PostgreSQL with the
data of bench/results.py (1,000,000 log records, 5,000,000 hits) and, in the dashboard's own
windows, everything at once: one of its mass emails sending (100,000 items left, 6,000 sent in
the last minute), 20 scheduled, 300 more that went out this month, 500,000 target list entries
and 50,000 opt-outs (500 of them complaints) added over the last twelve weeks. Loads /admin/
through Django's test client as a superuser `--loads` times, before and during a burst of 50,000
hits written as the tracking drainer records them; prints the median, the query count and the
ratio to Django's model list (/admin/models/) measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/dashboard.py
    ... bench/dashboard.py --reuse --name mm_bench_results   # on a database bench/results.py
                                                              # kept (--keep): no seeding
"""

import sys
from pathlib import Path

# Run as a script, bench/ would come first on sys.path and bench/queue.py would shadow `queue`.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import os  # noqa: E402
import time  # noqa: E402

from bench.results import (  # noqa: E402
    BURST_SINCE,
    DRAIN_BATCH,
    TAIL_HITS,
    add_hits,
    restore,
    seed_and_fold,
    timed_page,
)
from bench.scratch import page_bench_main, setup_django  # noqa: E402

NAME = "mm_bench_dashboard"
ENTRIES = 500_000
OPT_OUTS = 50_000
COMPLAINTS = 500


def add_dashboard_data(cursor, ids: dict) -> None:
    """The sending mass email, the scheduled ones, this month's, list entries and opt-outs."""
    from campaigns.models import Campaign, MassEmail
    from crm.models import EmailTemplate
    from targetlists.models import TargetList

    sending = ids["emails"][0]
    MassEmail.objects.filter(pk__in=ids["emails"]).update(
        status="complete", start_at=time_ago(days=3)
    )
    MassEmail.objects.filter(pk=sending).update(status="in_process", start_at=time_ago(hours=1))
    cursor.execute(
        """UPDATE campaigns_emailqueueitem SET status = 'pending', sent_at = NULL
           WHERE id IN (SELECT id FROM campaigns_emailqueueitem WHERE mass_email_id = %s
                        ORDER BY id DESC LIMIT 100000)""",
        [sending],
    )
    cursor.execute(
        """UPDATE campaigns_emailqueueitem SET sent_at = now() - (id %% 55) * interval '1 second'
           WHERE id IN (SELECT id FROM campaigns_emailqueueitem WHERE mass_email_id = %s
                        AND status = 'sent' ORDER BY id DESC LIMIT 6000)""",
        [sending],
    )
    template = EmailTemplate.objects.first()
    small = list(Campaign.objects.exclude(pk=ids["campaign"])[:100])
    MassEmail.objects.bulk_create(
        [
            MassEmail(
                campaign=small[n % len(small)],
                name=f"Month {n}",
                email_template=template,
                status="complete",
                start_at=time_ago(days=1 + n % 28),
            )
            for n in range(300)
        ]
        + [
            MassEmail(
                campaign=small[n % len(small)],
                name=f"Next {n}",
                email_template=template,
                status="pending",
                start_at=time_ago(days=-1 - n),
            )
            for n in range(20)
        ]
    )
    lists = TargetList.objects.bulk_create([TargetList(name=f"List {n}") for n in range(200)])
    cursor.execute(
        """INSERT INTO crm_contact (created_at, updated_at, first_name, last_name, title, phone)
           SELECT now(), now(), 'P', 'N' || n, '', '' FROM generate_series(1, 2500) n"""
    )
    cursor.execute("SELECT min(id) FROM crm_contact")
    first_contact = cursor.fetchone()[0]
    cursor.execute(
        """INSERT INTO targetlists_targetlistentry (opted_out, added_at, contact_id,
               target_list_id)
           SELECT false, now() - (n %% 84) * interval '1 day' - (n %% 86400) * interval '1 second',
                  %s + n %% 2500, %s + n / 2500
           FROM generate_series(0, %s - 1) n""",
        [first_contact, lists[0].pk, ENTRIES],
    )
    cursor.execute(
        """INSERT INTO crm_consentrecord (email, action, method, at, source, text, client_hash)
           SELECT 'p' || n || '@e.test', 'opt_out',
                  CASE WHEN n %% (%s / %s) = 0 THEN 'complaint' ELSE 'page' END,
                  now() - (n %% 84) * interval '1 day', '', '', ''
           FROM generate_series(1, %s) n""",
        [OPT_OUTS, COMPLAINTS, OPT_OUTS],
    )
    cursor.execute("ANALYZE")


def time_ago(days: float = 0, hours: float = 0):
    import datetime

    from django.utils import timezone

    return timezone.now() - datetime.timedelta(days=days, hours=hours)


def main() -> None:
    page_bench_main(
        __doc__.splitlines()[0],
        NAME,
        run,
        "reuse a database bench/results.py left (--keep): skip seeding and the first fold",
    )


def run(url: str, loads: int, reuse: bool) -> None:
    os.environ["ALLOWED_HOSTS"] = "testserver"
    setup_django(url)
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test import Client
    from django.urls import reverse

    from campaigns.results.counters import count_tail, update_counters

    if reuse:
        with connection.cursor() as cursor:
            ids = restore(cursor)
    else:
        ids = seed_and_fold(connection)
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        # A database a previous run of this script left: its own rows go first.
        cursor.execute("DELETE FROM campaigns_massemail WHERE name ~ '^(Month|Next) '")
        cursor.execute("DELETE FROM targetlists_targetlistentry")
        cursor.execute("DELETE FROM targetlists_targetlist WHERE name ~ '^List '")
        cursor.execute("DELETE FROM crm_consentrecord")
        cursor.execute("DELETE FROM crm_contact WHERE first_name = 'P'")
        add_dashboard_data(cursor, ids)
    print(f"dashboard data added in {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    update_counters(max_batches=10_000)  # as Update Results does every minute
    print(f"Update Results folded the weekly counters in {time.perf_counter() - start:.1f} s")
    get_user_model().objects.filter(username="bench").delete()
    user = get_user_model().objects.create_superuser("bench", "bench@e.test", "x")
    client = Client()
    client.force_login(user)
    measured = {
        "dashboard": timed_page(client, reverse("admin:index"), loads),
        "floor: admin model list": timed_page(client, reverse("admin_models"), loads),
    }
    for low in range(1, TAIL_HITS + 1, DRAIN_BATCH):
        part = (low, min(low + DRAIN_BATCH - 1, TAIL_HITS))
        with connection.cursor() as cursor:
            add_hits(cursor, ids, ids["first_item"], TAIL_HITS, BURST_SINCE, 290, part)
        count_tail()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tracking_trackinghit")
    measured[f"dashboard, {TAIL_HITS:,} hits not folded"] = timed_page(
        client, reverse("admin:index"), loads
    )
    floor = measured["floor: admin model list"][0]
    for name, (ms, queries, status) in measured.items():
        print(f"{name:45} {ms:8.1f} ms  {queries:3d} queries  {ms / floor:5.1f}x floor  [{status}]")
    slowest = max(ms for name, (ms, _q, _s) in measured.items() if "floor" not in name)
    verdict = "yes" if slowest < 300 else "no"
    print(f"slowest dashboard: {slowest:.1f} ms (goal < 300 ms): {verdict}")


if __name__ == "__main__":
    main()
