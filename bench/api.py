"""Benchmark of the REST API (issue 17): bulk list membership and the events stream.

Run from the project root, with DATABASE_URL pointing at a PostgreSQL server:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/api.py
    ... bench/api.py --only events        # or --only membership: one of the two parts

It creates (and finally drops) its own database, mm_bench_api, and measures, through the whole
Django stack (middleware, key, rate limit, JSON parsing, the view; Django's test client, no
network):

1. Adding 100,000 addresses to a target list: `POST /api/v1/target-lists/{id}/members/` with
   `{"emails": [...]}` (answered 202) and the job a worker runs for it, against the admin's
   "Add to target list" on the same 100,000 contacts (targetlists.adding.add_to_target_list on
   the search queryset "select all" hands it), alternated, into an empty list each time.
   Target: the API within 2x the admin's time.
2. `GET /api/v1/events/` on 1,000,000 campaign log records: the first page, pages deep in the
   log (a cursor anywhere), from a time (`since`), and filtered by type, mass email and
   address, 100 events a page; p50 and p95 of each, against `GET /api/v1/key/` (the stack
   with no work) as the floor. Target: p95 under 50 ms.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # bench/queue.py must not shadow the stdlib's queue

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from bench.scratch import drop_database, recreate_database, setup_django  # noqa: E402

DATABASE = "mm_bench_api"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--log-rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions of each add")
    parser.add_argument("--requests", type=int, default=200, help="requests per events query")
    parser.add_argument(
        "--only", choices=("membership", "events"), help="run one of the two parts alone"
    )
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL to a PostgreSQL server (any database on it).", file=sys.stderr)
        return 2
    bench_url = recreate_database(base_url, DATABASE)
    try:
        setup_django(bench_url)
        client, key = api_client()
        if args.only != "events":
            membership(client, args.contacts, args.reps)
        if args.only != "membership":
            events(client, key, args.log_rows, args.requests)
        return 0
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(base_url, DATABASE)


def api_client():
    """Django's test client with an administrator's key of every scope and no rate limit."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from django.test.utils import setup_test_environment

    from api import keys, scopes

    setup_test_environment()  # the test client's host, as the test suite has it
    user = get_user_model().objects.create(username="bench")
    user.groups.add(Group.objects.get(name="Administrators"))
    key = keys.create_key("bench", user, list(scopes.SCOPES), rate_per_minute=10**9).key
    return Client(HTTP_HOST="127.0.0.1", headers={"Authorization": f"Bearer {key}"}), key


def create_contacts(count: int) -> None:
    """`count` contacts with their own addresses (last name Benchmark…), 1,000 others."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO crm_emailaddress (address, address_lower, opt_out, invalid, "
            "soft_bounces) SELECT 'person' || n || '@example.com', 'person' || n || "
            "'@example.com', false, false, 0 FROM generate_series(1, %s) AS n",
            [count + 1000],
        )
        cursor.execute(
            "INSERT INTO crm_contact (first_name, last_name, title, phone, created_at, "
            "email_address_id) SELECT 'Ann' || a.id, CASE WHEN a.id <= %s THEN 'Benchmark' || "
            "a.id ELSE 'Other' || a.id END, '', '', now(), a.id FROM crm_emailaddress a",
            [count],
        )
        cursor.execute("ANALYZE")


def membership(client, count: int, reps: int) -> None:
    from crm.models import Contact
    from targetlists.adding import add_to_target_list
    from targetlists.models import TargetList

    create_contacts(count)
    emails = [f"person{n}@example.com" for n in range(1, count + 1)]
    body = json.dumps({"emails": emails})
    search = Contact.objects.filter(last_name__icontains="benchmark")
    admin_times, api_times, post_times = [], [], []
    for rep in range(reps):
        runs = ["admin", "api"] if rep % 2 == 0 else ["api", "admin"]
        for name in runs:
            target_list = TargetList.objects.create(name=f"{name} {rep}")
            started = time.perf_counter()
            if name == "admin":
                added = add_to_target_list(target_list, search)
                admin_times.append(time.perf_counter() - started)
            else:
                added, posted = add_through_api(client, target_list.pk, body)
                api_times.append(time.perf_counter() - started)
                post_times.append(posted - started)
            assert added == count, f"{name} added {added}, expected {count}"
    admin, api = statistics.median(admin_times), statistics.median(api_times)
    print(f"1. {count:,} addresses added to a list ({len(body) / 1e6:.1f} MB of JSON)")
    print(f"   admin's add_to_target_list:   {fmt(admin_times)} median {admin:.2f} s")
    print(f"   API, POST (202) + its job:    {fmt(api_times)} median {api:.2f} s")
    print(f"     of which the POST:          {fmt(post_times)}")
    verdict = "yes" if api <= 2 * admin else "NO"
    print(f"   API / admin = {api / admin:.2f} (target <= 2: {verdict})")


def add_through_api(client, list_id: int, body: str) -> tuple[int, float]:
    """POST the addresses, then run the job as the worker does; (added, when the POST ended)."""
    from api.jobs import run_job

    response = client.post(
        f"/api/v1/target-lists/{list_id}/members/", body, content_type="application/json"
    )
    posted = time.perf_counter()
    assert response.status_code == 202, response.content[:500]
    job = run_job(response.json()["id"])
    assert job.status == "done", job.error
    return job.counts.get("added", 0), posted


def create_log(rows: int) -> dict:
    """A campaign with one mass email, rows/4 recipients, each with sent, opened and two
    clicked log records (1,000,000 rows for 250,000 recipients), dated two seconds apart over
    the last weeks, and a hit per open (a third of them a machine's)."""
    from django.db import connection

    from tests.factories import MassEmailFactory, TrackingUrlFactory

    mass_email = MassEmailFactory(status="complete")
    first, second = TrackingUrlFactory.create_batch(2, campaign=mass_email.campaign)
    people = rows // 4
    with connection.cursor() as cursor:
        # Part 1 made its contacts; as many more as the log needs (person<n> goes on).
        cursor.execute("SELECT count(*) FROM crm_contact")
        (have,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO crm_emailaddress (address, address_lower, opt_out, invalid, "
            "soft_bounces) SELECT 'person' || n || '@example.com', 'person' || n || "
            "'@example.com', false, false, 0 FROM generate_series(%s, %s) AS n "
            "ON CONFLICT DO NOTHING",
            [have + 1, people],
        )
        cursor.execute(
            "INSERT INTO crm_contact (first_name, last_name, title, phone, created_at, "
            "email_address_id) SELECT 'Ann' || a.id, 'Logged' || a.id, '', '', now(), a.id "
            "FROM crm_emailaddress a WHERE NOT EXISTS "
            "(SELECT 1 FROM crm_contact c WHERE c.email_address_id = a.id)"
        )
        cursor.execute(
            "INSERT INTO campaigns_emailqueueitem (mass_email_id, email_address_id, email, "
            "status, attempts, is_test, sent_at, created_at, last_error, contact_id) "
            "SELECT %s, a.id, a.address, 'sent', 1, false, now(), now(), '', c.id "
            "FROM crm_emailaddress a JOIN crm_contact c ON c.email_address_id = a.id "
            "ORDER BY a.id LIMIT %s",
            [mass_email.pk, people],
        )
        cursor.execute(
            "INSERT INTO campaigns_campaignlogrecord (campaign_id, action, action_date, "
            "queue_item_id, tracking_url_id, email_address_id, email, bounce_type, "
            "bounce_detail, is_test, contact_id) "
            "SELECT %s, k.action, now() - interval '30 days' + "
            "(row_number() OVER (ORDER BY q.id, k.n)) * interval '2 seconds', q.id, k.url, "
            "q.email_address_id, q.email, '', '', false, q.contact_id "
            "FROM campaigns_emailqueueitem q CROSS JOIN (VALUES (1, 'sent', NULL::bigint), "
            "(2, 'opened', NULL), (3, 'clicked', %s), (4, 'clicked', %s)) AS k(n, action, url) "
            "WHERE q.mass_email_id = %s ORDER BY q.id, k.n",
            [mass_email.campaign_id, first.pk, second.pk, mass_email.pk],
        )
        cursor.execute(
            "INSERT INTO tracking_trackinghit (queue_item_id, campaign_id, is_test, kind, at, "
            "user_agent, client_hash, is_machine, reason) SELECT q.id, %s, false, 'open', "
            "now(), '', '', q.id %% 3 = 0, '' FROM campaigns_emailqueueitem q "
            "WHERE q.mass_email_id = %s",
            [mass_email.campaign_id, mass_email.pk],
        )
        cursor.execute("ANALYZE")
    return {"mass_email": mass_email.pk, "people": people}


def events(client, key: str, rows: int, requests: int) -> None:
    from api.pagination import encode
    from campaigns.models import CampaignLogRecord

    made = create_log(rows)
    total = CampaignLogRecord.objects.count()
    low = CampaignLogRecord.objects.order_by("id").values_list("id", flat=True).first()
    high = CampaignLogRecord.objects.order_by("-id").values_list("id", flat=True).first()
    started = CampaignLogRecord.objects.get(id=low).action_date
    queries = {
        "floor: GET /api/v1/key/": lambda: ("/api/v1/key/", {}),
        "first page": lambda: ("/api/v1/events/", {}),
        "a page anywhere (cursor)": lambda: (
            "/api/v1/events/",
            {"cursor": encode(("id",), [random.randint(low, high)])},
        ),
        "since a time": lambda: (
            "/api/v1/events/",
            {"since": (started + random.random() * (time_span(started))).isoformat()},
        ),
        "type=clicked": lambda: ("/api/v1/events/", {"type": "clicked"}),
        "mass_email=…": lambda: ("/api/v1/events/", {"mass_email": made["mass_email"]}),
        "email=…": lambda: (
            "/api/v1/events/",
            {"email": f"person{random.randint(1, made['people'])}@example.com"},
        ),
    }
    print(f"2. GET /api/v1/events/ on {total:,} log records, 100 a page, {requests} requests each")
    worst = 0.0
    for name, make in queries.items():
        times = []
        for _ in range(requests):
            path, params = make()
            began = time.perf_counter()
            response = client.get(path, params)
            times.append(time.perf_counter() - began)
            assert response.status_code == 200, response.content[:300]
        p50, p95 = percentile(times, 50), percentile(times, 95)
        if not name.startswith("floor"):
            worst = max(worst, p95)
        print(f"   {name:28} p50 {p50 * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms")
    print(f"   worst p95 {worst * 1000:.1f} ms (target < 50 ms: {'yes' if worst < 0.05 else 'NO'})")


def time_span(started):
    from django.utils import timezone

    return timezone.now() - started


def percentile(times: list[float], which: int) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * which / 100))]


def fmt(times: list[float]) -> str:
    return "[" + ", ".join(f"{t:.2f}" for t in times) + "]"


if __name__ == "__main__":
    sys.exit(main())
