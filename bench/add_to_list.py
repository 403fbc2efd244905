"""Benchmark: "Add to target list" on a filtered search of 100,000 contacts (issue 2).

Run from the project root, with DATABASE_URL pointing at a PostgreSQL server:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/add_to_list.py

It creates (and finally drops) its own database, mm_bench_add, with 100,000 contacts whose last
name matches the search and 1,000 that do not, then times targetlists.adding.add_to_target_list
on the admin's search queryset (what "select all" of that search hands the action) against the
floor: one hand-written INSERT … SELECT of the same contacts, in the same run, into an empty
list each time. It also times adding the same selection again (nothing to add).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # bench/queue.py must not shadow the stdlib's queue

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from bench.scratch import drop_database, recreate_database, setup_django  # noqa: E402

MATCHING, OTHERS = 100_000, 1_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions of each")
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL to a PostgreSQL server (any database on it).", file=sys.stderr)
        return 2
    bench_url = recreate_database(base_url, "mm_bench_add")
    try:
        return run(bench_url, args.reps)
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(base_url, "mm_bench_add")


def create_contacts() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO crm_contact (first_name, last_name, title, phone, created_at) "
            "SELECT 'Ann' || n, CASE WHEN n <= %s THEN 'Benchmark' || n ELSE 'Other' || n END, "
            "'', '', now() FROM generate_series(1, %s) AS n",
            [MATCHING, MATCHING + OTHERS],
        )
        cursor.execute("ANALYZE")


def floor_insert(target_list_id: int) -> int:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO targetlists_targetlistentry (target_list_id, contact_id, opted_out, "
            "added_at) SELECT %s, id, false, now() FROM crm_contact "
            "WHERE UPPER(last_name::text) LIKE UPPER(%s)",
            [target_list_id, "%bench%"],
        )
        return cursor.rowcount


def run(bench_url: str, reps: int) -> int:
    setup_django(bench_url)
    create_contacts()
    from crm.models import Contact
    from targetlists.adding import add_to_target_list
    from targetlists.models import TargetList

    search = Contact.objects.filter(last_name__icontains="bench")  # the admin's ?q=bench
    floor_times, add_times, again_times = [], [], []
    for rep in range(reps):
        runs = [("floor", floor_times), ("add", add_times)]
        for name, times in runs if rep % 2 == 0 else reversed(runs):
            target_list = TargetList.objects.create(name=f"{name} {rep}")
            started = time.perf_counter()
            if name == "floor":
                added = floor_insert(target_list.pk)
            else:
                added = add_to_target_list(target_list, search)
                again_started = time.perf_counter()
                assert add_to_target_list(target_list, search) == 0
                again_times.append(time.perf_counter() - again_started)
            times.append(time.perf_counter() - started - (again_times[-1] if name == "add" else 0))
            assert added == MATCHING, f"{name} added {added}, expected {MATCHING}"
    floor, add = statistics.median(floor_times), statistics.median(add_times)
    print(f"selection: {MATCHING:,} matching contacts of {MATCHING + OTHERS:,}")
    print(f"floor (one INSERT … SELECT): {fmt(floor_times)} median {floor:.2f} s")
    print(f"add_to_target_list():        {fmt(add_times)} median {add:.2f} s")
    again = statistics.median(again_times)
    print(f"adding again (0 added):      {fmt(again_times)} median {again:.2f} s")
    print(f"ratio: {add / floor:.2f}x")
    return 0


def fmt(times: list[float]) -> str:
    return "[" + ", ".join(f"{t:.2f}" for t in times) + "]"


if __name__ == "__main__":
    sys.exit(main())
