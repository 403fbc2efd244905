"""Benchmark: building the queue of a mass email with 1,000,000 target list entries.

Run from the project root, with DATABASE_URL pointing at a PostgreSQL server:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/queue.py

It creates (and finally drops) its own database, mm_bench_queue by default, fills it with set-based
SQL (generate_series), then times campaigns.sending.queue.build_queue() against the floor: one
hand-written INSERT … SELECT producing the same rows, in the same run, and checks both give the
same rows. It prints both medians, their ratio and the peak RSS of this process.
"""

import sys
from pathlib import Path

# Run as a script, bench/ would come first on sys.path and this file would shadow the stdlib queue.
ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from bench.scratch import drop_database, recreate_database, setup_django  # noqa: E402

CONTACTS, LEADS, ACCOUNTS, USERS = 400_000, 300_000, 100_000, 20_000
ADDRESSES = 700_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="mm_bench_queue", help="scratch database name")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions of each")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--ab", action="store_true", help="an A/B test of two variants, 20 %% test share"
    )
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL to a PostgreSQL server (any database on it).", file=sys.stderr)
        return 2
    bench_url = recreate_database(base_url, args.database)
    try:
        return run(bench_url, args.reps, args.ab)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(base_url, args.database)


def run(bench_url: str, reps: int, ab: bool = False) -> int:
    global ROWS
    setup_django(bench_url)
    started = time.perf_counter()
    mass_email = create_data()
    print(f"data: 1,000,000 entries created in {time.perf_counter() - started:.1f} s")
    if ab:
        # The split is on top of the floor's rows: the same recipients, statuses aside.
        from campaigns.models import MassEmailVariant

        mass_email.test_share = 20
        mass_email.save(update_fields=["test_share"])
        for letter in "AB":
            MassEmailVariant.objects.create(mass_email=mass_email, letter=letter, subject=letter)
        ROWS = ROWS.replace(", status", "")

    from campaigns.sending.queue import build_queue

    started = time.perf_counter()
    first = build_queue(mass_email)
    print(f"first build (also creates users' address rows): {time.perf_counter() - started:.2f} s")
    snapshot(mass_email.pk)
    floor_times, build_times = [], []
    for rep in range(reps):
        # Alternate which goes first, so neither always meets a colder or busier server.
        runs = [(floor_times, floor_insert), (build_times, build_queue)]
        for times, action in runs if rep % 2 == 0 else reversed(runs):
            reset(mass_email)
            times.append(timed(lambda action=action: action(mass_email)))
            check_same_rows(mass_email.pk, first.queued, quiet=rep > 0)
    floor, built = statistics.median(floor_times), statistics.median(build_times)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"queued: {first.queued:,} items")
    if ab:
        shares = sql(
            "SELECT COALESCE(v.letter, 'held'), COUNT(*) FROM campaigns_emailqueueitem q "
            "LEFT JOIN campaigns_massemailvariant v ON v.id = q.variant_id "
            "WHERE q.mass_email_id = %s GROUP BY 1 ORDER BY 1",
            [mass_email.pk],
        )
        print(
            "split: " + ", ".join(f"{k} {n:,} ({100 * n / first.queued:.2f} %)" for k, n in shares)
        )
    print(f"floor (one INSERT … SELECT): {fmt(floor_times)} median {floor:.2f} s")
    print(f"build_queue():               {fmt(build_times)} median {built:.2f} s")
    print(f"ratio: {built / floor:.2f}x (goal <= 1.5x)")
    print(f"peak RSS of this process: {peak_mb:.0f} MB (goal < 200 MB)")
    return 0 if built / floor <= 1.5 and peak_mb < 200 else 1


def fmt(times: list[float]) -> str:
    return "[" + ", ".join(f"{t:.2f}" for t in times) + "]"


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def sql(statement: str, params=None) -> list:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def create_data():
    """People, addresses and lists in a handful of INSERT … SELECT generate_series statements.

    Addresses: every 7th in mixed case, every 50th opted out, every 97th invalid.
    Contacts 1–400k use addresses 1–400k (every 100th has none); leads 1–100k share the
    address of contact 3n, the others have their own; accounts use their own addresses except
    every 10th, which shares contact n's; users 1–10k have contact 5n's address upper-cased
    (no row of their own), users 10k–20k new addresses with no row yet, every 1000th none.
    List 1: all contacts; list 2: all leads; list 3: accounts, users and contacts 100k–280k
    (overlapping list 1): 1,000,000 entries, every 37th opted out. Excluding list 4: every
    30th lead, 80th contact and 20th user, every 3rd of those entries opted out.
    """
    from campaigns.models import Campaign, CampaignStatus, MassEmail
    from crm.models import EmailTemplate

    for statement in DATA_SQL:
        sql(statement)
    for table in ("crm_emailaddress", "crm_contact", "crm_lead", "crm_account", "auth_user"):
        sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
        )
    campaign = Campaign.objects.create(name="Bench", status=CampaignStatus.ACTIVE)
    template = EmailTemplate.objects.create(name="Bench", subject="Hi", body_html="<p>Hi</p>")
    mass_email = MassEmail.objects.create(
        campaign=campaign, name="Bench", email_template=template, status=MassEmail.Status.PENDING
    )
    for list_id in (2, 1, 3):  # the leads' list first: list order is not id order
        mass_email.target_lists.add(list_id)
    mass_email.excluding_target_lists.add(4)
    sql("VACUUM ANALYZE")
    return mass_email


DATA_SQL = [
    f"""INSERT INTO crm_emailaddress (id, address, address_lower, opt_out, invalid, soft_bounces)
        SELECT n, a, LOWER(a), n % 50 = 0, n % 97 = 0, 0
        FROM (SELECT n, CASE WHEN n % 7 = 0 THEN 'Person' || n || '@Example.com'
                             ELSE 'person' || n || '@example.com' END AS a
              FROM generate_series(1, {ADDRESSES}) n) s""",
    f"""INSERT INTO crm_contact
            (id, first_name, last_name, title, phone, email_address_id, created_at)
        SELECT n, 'Ann' || n, 'Smith', '', '', CASE WHEN n % 100 = 0 THEN NULL ELSE n END, now()
        FROM generate_series(1, {CONTACTS}) n""",
    f"""INSERT INTO crm_lead (id, first_name, last_name, title, phone, account_name, status,
                              source, email_address_id, created_at)
        SELECT n, 'Leo' || n, 'Jones', '', '', '', 'new', '',
               CASE WHEN n % 101 = 0 THEN NULL WHEN n <= 100000 THEN 3 * n
                    ELSE {CONTACTS} + n END, now()
        FROM generate_series(1, {LEADS}) n""",
    f"""INSERT INTO crm_account (id, name, website, industry, phone, email_address_id, created_at)
        SELECT n, 'Company ' || n, '', '', '',
               CASE WHEN n % 10 = 0 THEN n ELSE {CONTACTS + LEADS - 100_000} + n END, now()
        FROM generate_series(1, {ACCOUNTS}) n""",
    f"""INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email,
                               is_staff, is_active, date_joined)
        SELECT n, '!', false, 'user' || n, 'Uma', 'User',
               CASE WHEN n % 1000 = 0 THEN ''
                    WHEN n <= 10000 THEN 'PERSON' || (5 * n) || '@EXAMPLE.COM'
                    ELSE 'user' || n || '@bench.example' END,
               false, true, now()
        FROM generate_series(1, {USERS}) n""",
    """INSERT INTO targetlists_targetlist (id, name, description, created_at)
        VALUES (1, 'Contacts', '', now()), (2, 'Leads', '', now()), (3, 'Mixed', '', now()),
               (4, 'Excluded', '', now())""",
    f"""INSERT INTO targetlists_targetlistentry
            (target_list_id, account_id, contact_id, lead_id, user_id, opted_out, added_at)
        SELECT list_id, account_id, contact_id, lead_id, user_id, false, now() FROM (
            SELECT 1 AS list_id, NULL::bigint AS account_id, n AS contact_id,
                   NULL::bigint AS lead_id, NULL::int AS user_id
            FROM generate_series(1, {CONTACTS}) n
            UNION ALL SELECT 2, NULL, NULL, n, NULL FROM generate_series(1, {LEADS}) n
            UNION ALL SELECT 3, n, NULL, NULL, NULL FROM generate_series(1, {ACCOUNTS}) n
            UNION ALL SELECT 3, NULL, NULL, NULL, n FROM generate_series(1, {USERS}) n
            UNION ALL SELECT 3, NULL, n, NULL, NULL FROM generate_series(100001, 280000) n
            UNION ALL SELECT 4, NULL, NULL, n, NULL FROM generate_series(30, {LEADS}, 30) n
            UNION ALL SELECT 4, NULL, n, NULL, NULL FROM generate_series(80, {CONTACTS}, 80) n
            UNION ALL SELECT 4, NULL, NULL, NULL, n FROM generate_series(20, {USERS}, 20) n
        ) s""",
    """UPDATE targetlists_targetlistentry SET opted_out = true
        WHERE (target_list_id < 4 AND id % 37 = 0) OR (target_list_id = 4 AND id % 3 = 0)""",
]


def reset(mass_email) -> None:
    """Back to Pending with an empty queue, as before the first build; no checkpoint pending."""
    sql("TRUNCATE campaigns_emailqueueitem CASCADE")
    sql("UPDATE campaigns_massemail SET status = 'pending' WHERE id = %s", [mass_email.pk])
    sql("CHECKPOINT")
    mass_email.status = "pending"


# The floor: the same recipients in one statement, written by hand for PostgreSQL (DISTINCT ON).
FLOOR_SQL = """
    INSERT INTO campaigns_emailqueueitem (mass_email_id, account_id, contact_id, lead_id, user_id,
        email_address_id, email, status, attempts, is_test, last_error, created_at)
    SELECT %(me)s, r.account_id, r.contact_id, r.lead_id, r.user_id, a.id, a.address,
           'pending', 0, false, '', now()
    FROM (
        SELECT DISTINCT ON (address_id) t.id AS list_order, e.id AS entry_id, e.account_id,
               e.contact_id, e.lead_id, e.user_id,
               COALESCE(ac.email_address_id, co.email_address_id, le.email_address_id, ua.id)
                   AS address_id
        FROM campaigns_massemail_target_lists t
        JOIN targetlists_targetlistentry e ON e.target_list_id = t.targetlist_id
        LEFT JOIN crm_account ac ON ac.id = e.account_id
        LEFT JOIN crm_contact co ON co.id = e.contact_id
        LEFT JOIN crm_lead le ON le.id = e.lead_id
        LEFT JOIN auth_user us ON us.id = e.user_id
        LEFT JOIN crm_emailaddress ua ON ua.address_lower = LOWER(TRIM(us.email))
        WHERE t.massemail_id = %(me)s AND NOT e.opted_out
        ORDER BY address_id, t.id, e.id
    ) r
    JOIN crm_emailaddress a ON a.id = r.address_id
    WHERE NOT a.invalid AND NOT a.opt_out AND a.id NOT IN (
        SELECT COALESCE(ac.email_address_id, co.email_address_id, le.email_address_id, ua.id)
        FROM campaigns_massemail_excluding_target_lists x
        JOIN targetlists_targetlistentry e ON e.target_list_id = x.targetlist_id
        LEFT JOIN crm_account ac ON ac.id = e.account_id
        LEFT JOIN crm_contact co ON co.id = e.contact_id
        LEFT JOIN crm_lead le ON le.id = e.lead_id
        LEFT JOIN auth_user us ON us.id = e.user_id
        LEFT JOIN crm_emailaddress ua ON ua.address_lower = LOWER(TRIM(us.email))
        WHERE x.massemail_id = %(me)s
          AND COALESCE(ac.email_address_id, co.email_address_id, le.email_address_id, ua.id)
              IS NOT NULL
    )
"""


def floor_insert(mass_email) -> None:
    from django.db import transaction

    with transaction.atomic():
        sql(FLOOR_SQL, {"me": mass_email.pk})
        sql("UPDATE campaigns_massemail SET status = 'in_process' WHERE id = %s", [mass_email.pk])


ROWS = "account_id, contact_id, lead_id, user_id, email_address_id, email, status"


def snapshot(mass_email_id: int) -> None:
    """Keep the rows of the first build_queue() to compare every later run with."""
    sql("DROP TABLE IF EXISTS first_rows")
    sql(
        f"CREATE TEMP TABLE first_rows AS SELECT {ROWS} FROM campaigns_emailqueueitem "
        "WHERE mass_email_id = %s",
        [mass_email_id],
    )


def check_same_rows(mass_email_id: int, expected: int, quiet: bool) -> None:
    now = f"SELECT {ROWS} FROM campaigns_emailqueueitem WHERE mass_email_id = {mass_email_id}"
    first = f"SELECT {ROWS} FROM first_rows"
    counts = [
        sql(f"SELECT COUNT(*) FROM ({query}) q")[0][0]
        for query in (now, first, f"{now} EXCEPT {first}", f"{first} EXCEPT {now}")
    ]
    if counts[:2] != [expected, expected] or counts[2:] != [0, 0]:
        raise SystemExit(f"build_queue and the floor differ: {counts}")
    if not quiet:
        print(f"same rows: {expected:,}, none in one run but not in the other")


if __name__ == "__main__":
    sys.exit(main())
