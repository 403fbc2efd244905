"""The results page with 1,000,000 log records and 5,000,000 tracking hits on PostgreSQL.

Seeds a scratch database (mm_bench_results) with set-based SQL: one campaign of three mass emails
and 400,000 sent items holds every log record and hit (the worst case: the page's own campaign is
the big one), plus 199 small campaigns for the campaign list. Then it folds the counters once (as
the beat entry "Update Results" would, timed), and loads, through Django's test client as a
superuser, each page `--loads` times: the campaign results page, a mass email results page, the
campaign list (200 campaigns), and Django's model list as the floor; then during a burst: 50,000
hits written in five minutes as the tracking drainer records them, the page after one run of
Update Results, and one more minute of the burst whose blocks nobody counted yet. Prints the
median and the query count of each, and the slowest page against the goal (300 ms).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/results.py
    ... bench/results.py --keep     # keep mm_bench_results to EXPLAIN by hand
    ... bench/results.py --reuse --keep    # again on the kept database, without seeding
"""

import sys
from pathlib import Path

# Run as a script, bench/ would come first on sys.path and bench/queue.py would shadow `queue`.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from bench.scratch import page_bench_main, setup_django  # noqa: E402

NAME = "mm_bench_results"
ITEMS = 400_000
LOG = {"sent": 400_000, "opened": 300_000, "clicked": 220_000, "bounced": 50_000, "opted": 30_000}
HITS = 5_000_000
TAIL_HITS = 50_000  # a burst: 50,000 hits in five minutes (170 a second) on the big campaign
MINUTE_HITS = 10_200  # one minute of that burst
DRAIN_BATCH = 2000  # tracking.buffer.BATCH_ITEMS
BURST_SINCE = "now() - interval '5 minutes'"


def seed(cursor) -> dict:
    """The big campaign and 199 small ones; returns ids."""
    from campaigns.models import Campaign, MassEmail, TrackingUrl
    from crm.models import EmailTemplate

    template = EmailTemplate.objects.create(name="Bench", subject="Hi", body_html="<p>Hi</p>")
    campaign = Campaign.objects.create(name="Bench results", status="active")
    emails = [
        MassEmail.objects.create(
            campaign=campaign, name=f"Wave {n}", email_template=template, status="complete"
        )
        for n in range(3)
    ]
    links = [
        TrackingUrl.objects.create(campaign=campaign, name=f"Link {n}", url=f"https://e.test/{n}")
        for n in range(3)
    ]
    for n in range(199):
        Campaign.objects.create(name=f"Small {n}", status="complete")
    ids = {
        "campaign": campaign.pk,
        "emails": [e.pk for e in emails],
        "links": [x.pk for x in links],
    }
    first_email, first_link = ids["emails"][0], ids["links"][0]
    # 200 domains, a few big ones: the domain is chosen by a skewed function of the item number.
    cursor.execute(
        """INSERT INTO campaigns_emailqueueitem (mass_email_id, email, status, attempts, is_test,
               sent_at, last_error, created_at)
           SELECT %s + (n %% 3),
                  'p' || n || '@d' || ((n::bigint * n) %% 200) / (1 + n %% 7) || '.test',
                  'sent', 1, false, now() - interval '10 days', '', now()
           FROM generate_series(1, %s) n""",
        [first_email, ITEMS],
    )
    cursor.execute("SELECT min(id) FROM campaigns_emailqueueitem")
    first_item = cursor.fetchone()[0]
    log_insert = """INSERT INTO campaigns_campaignlogrecord (campaign_id, action, action_date,
            queue_item_id, tracking_url_id, email, bounce_type, is_test)
        SELECT %(campaign)s, %(action)s, now() - interval '9 days', q.id, {link}, q.email,
               {bounce}, false
        FROM campaigns_emailqueueitem q WHERE q.id < %(first)s + %(count)s"""
    for action, count, link, bounce in (
        ("sent", LOG["sent"], "NULL", "''"),
        ("opened", LOG["opened"], "NULL", "''"),
        ("opted_out", LOG["opted"], "NULL", "''"),
        ("bounced", LOG["bounced"], "NULL", "CASE WHEN q.id %% 3 = 0 THEN 'hard' ELSE 'soft' END"),
        ("clicked", 150_000, f"{first_link} + 0", "''"),
        ("clicked", LOG["clicked"] - 150_000, f"{first_link} + 1", "''"),
    ):
        params = {"campaign": ids["campaign"], "action": action, "first": first_item}
        cursor.execute(log_insert.format(link=link, bounce=bounce), {**params, "count": count})
    add_hits(cursor, ids, first_item, HITS, "now() - interval '10 days'", 10 * 86400)
    return {**ids, "first_item": first_item}


def add_hits(
    cursor,
    ids: dict,
    first_item: int,
    count: int,
    since: str,
    spread: int,
    part: tuple[int, int] | None = None,
) -> None:
    """`count` opens and clicks (a third of them machines') spread over `spread` seconds; only
    the hits numbered part[0] to part[1] of them when `part` is given."""
    low, high = part or (1, count)
    cursor.execute(
        f"""INSERT INTO tracking_trackinghit (queue_item_id, campaign_id, is_test, kind,
               tracking_url_id, at, user_agent, client_hash, is_machine, reason)
           SELECT %(first)s + (n::bigint * 7919) %% %(items)s, %(campaign)s, false,
                  CASE WHEN n %% 4 = 0 THEN 'click' ELSE 'open' END,
                  CASE WHEN n %% 4 = 0 THEN %(link)s + n %% 3 END,
                  {since} + (sqrt(n::float / %(count)s) * %(spread)s) * interval '1 second',
                  'Mozilla/5.0 (bench)', '', n %% 3 = 0,
                  CASE WHEN n %% 3 = 0 THEN 'proxy' ELSE '' END
           FROM generate_series(%(low)s, %(high)s) n""",
        {
            "first": first_item,
            "items": ITEMS,
            "campaign": ids["campaign"],
            "link": ids["links"][0],
            "count": count,
            "spread": spread,
            "low": low,
            "high": high,
        },
    )


def timed_page(client, url: str, loads: int, before_each=None) -> tuple[float, int, int]:
    """Median milliseconds, query count and status of `loads` GETs of `url` (`before_each`
    called before each, untimed)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm: templates, translations, connection
    times = []
    for _load in range(loads):
        if before_each is not None:
            before_each()
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), len(queries), response.status_code


def main() -> None:
    page_bench_main(
        __doc__.splitlines()[0],
        NAME,
        run,
        "reuse a database a --keep run left: skip seeding and the first fold",
    )


def snapshot(cursor) -> None:
    """Copy the counters and watermarks after the first fold, for --reuse."""
    for table in ("hitcounter", "logcounter", "counterwatermark"):
        cursor.execute(f"DROP TABLE IF EXISTS bench_{table}")
        cursor.execute(f"CREATE TABLE bench_{table} AS SELECT * FROM campaigns_{table}")
    cursor.execute("DROP TABLE IF EXISTS bench_ids")
    cursor.execute(
        "CREATE TABLE bench_ids AS SELECT (SELECT max(id) FROM tracking_trackinghit) AS last_hit"
    )


def restore(cursor) -> dict:
    """Back to the state snapshot() saved: the burst's hits and later counters gone; ids."""
    from campaigns.models import Campaign

    cursor.execute("DELETE FROM tracking_trackinghit WHERE id > (SELECT last_hit FROM bench_ids)")
    cursor.execute("DELETE FROM campaigns_tailblock")
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence('tracking_trackinghit', 'id'), "
        "(SELECT last_hit FROM bench_ids))"
    )
    for table in ("hitcounter", "logcounter", "counterwatermark"):
        cursor.execute(f"DELETE FROM campaigns_{table}")
        cursor.execute(f"INSERT INTO campaigns_{table} SELECT * FROM bench_{table}")
    campaign = Campaign.objects.get(name="Bench results")
    cursor.execute("SELECT min(id) FROM campaigns_emailqueueitem")
    return {
        "campaign": campaign.pk,
        "emails": sorted(campaign.mass_emails.values_list("pk", flat=True)),
        "links": sorted(campaign.tracking_urls.values_list("pk", flat=True)),
        "first_item": cursor.fetchone()[0],
    }


def seed_and_fold(connection) -> dict:
    """Seed, analyze, fold the counters once (timed) and snapshot them; the ids."""
    from campaigns.results.counters import update_counters

    start = time.perf_counter()
    with connection.cursor() as cursor:
        ids = seed(cursor)
        cursor.execute("SELECT count(*) FROM campaigns_campaignlogrecord")
        log_rows = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM tracking_trackinghit")
        hit_rows = cursor.fetchone()[0]
        cursor.execute("VACUUM ANALYZE")
    print(
        f"seeded {log_rows:,} log records, {hit_rows:,} hits in {time.perf_counter() - start:.0f} s"
    )
    start = time.perf_counter()
    folded = update_counters(max_batches=10_000)
    print(
        f"first fold: {folded['log']:,} log records, {folded['hits']:,} hits in "
        f"{time.perf_counter() - start:.1f} s"
    )
    with connection.cursor() as cursor:
        snapshot(cursor)
    return ids


def run(url: str, loads: int, reuse: bool = False) -> None:
    os.environ["ALLOWED_HOSTS"] = "testserver"
    setup_django(url)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from campaigns.results.counters import TAIL_BLOCK, count_tail, update_counters

    if reuse:
        with connection.cursor() as cursor:
            ids = restore(cursor)
    else:
        ids = seed_and_fold(connection)
    get_user_model().objects.filter(username="bench").delete()
    user = get_user_model().objects.create_superuser("bench", "bench@e.test", "x")
    client = Client()
    client.force_login(user)
    pages = {
        "campaign results": reverse("admin:campaigns_campaign_results", args=[ids["campaign"]]),
        "mass email results": reverse("admin:campaigns_massemail_results", args=[ids["emails"][0]]),
        "campaign list (200)": reverse("admin:campaigns_campaign_changelist"),
        "floor: admin model list": reverse("admin_models"),
    }
    measured = {name: timed_page(client, page, loads) for name, page in pages.items()}
    results_page = pages["campaign results"]
    # The burst as the tracking drainer records it (tracking.tasks.record_tracking_hits): batches
    # of DRAIN_BATCH hits, the new whole blocks counted after each (count_tail).
    for low in range(1, TAIL_HITS + 1, DRAIN_BATCH):
        part = (low, min(low + DRAIN_BATCH - 1, TAIL_HITS))
        with connection.cursor() as cursor:
            add_hits(cursor, ids, ids["first_item"], TAIL_HITS, BURST_SINCE, 290, part)
        count_tail()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tracking_trackinghit")
    tail = f"campaign results, {TAIL_HITS:,} hits not folded"
    measured[tail] = timed_page(client, results_page, loads)
    start = time.perf_counter()
    folded = update_counters()  # as the beat entry would: the last SETTLE_SECONDS stay live
    print(f"fold of the new hits: {folded['hits']:,} in {time.perf_counter() - start:.1f} s")
    live = f"  … after Update Results ({TAIL_HITS - folded['hits']:,} live)"
    measured[live] = timed_page(client, results_page, loads)
    # A minute of the same burst written without the buffer (no drainer): nothing counts its
    # blocks until the next Update Results, so the first page view after it counts them.
    from campaigns.models import TailBlock
    from tracking.models import TrackingHit

    newest = TrackingHit.objects.order_by("-id").values_list("id", flat=True).first()
    with connection.cursor() as cursor:
        add_hits(cursor, ids, ids["first_item"], MINUTE_HITS, "now() - interval '1 minute'", 60)
        cursor.execute("ANALYZE tracking_trackinghit")
    uncounted = TailBlock.objects.filter(source="hits", block__gte=newest // TAIL_BLOCK)
    minute = f"  … + {MINUTE_HITS:,} hits, blocks not counted yet"
    measured[minute] = timed_page(client, results_page, loads, before_each=uncounted.delete)
    measured["mass email results, same moment"] = timed_page(
        client, pages["mass email results"], loads, before_each=uncounted.delete
    )
    floor = measured["floor: admin model list"][0]
    for name, (ms, queries, status) in measured.items():
        print(f"{name:45} {ms:8.1f} ms  {queries:3d} queries  {ms / floor:5.1f}x floor  [{status}]")
    goal = all(ms < 300 for name, (ms, _q, _s) in measured.items() if "floor" not in name)
    burst = max(ms for name, (ms, _q, _s) in measured.items() if "floor" not in name)
    print(f"slowest page during the burst: {burst:.1f} ms (goal < 300 ms)")
    print(f"every page < 300 ms, burst included: {'yes' if goal else 'no'}")


if __name__ == "__main__":
    main()
