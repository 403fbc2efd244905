"""Benchmark: importing 1,000,000 contacts from CSV (issue 10) against PostgreSQL COPY.

Run from the project root, with DATABASE_URL pointing at a PostgreSQL server:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/import.py
    ... bench/import.py --rows 100000      # quicker

It creates (and finally drops) its own database, mm_bench_import, writes a CSV file of N
contacts (email, first name, last name, company: UTF-8, names with accents, 1 % of the
addresses repeated, 1 % bad), then in the same run times:
- floor: PostgreSQL `COPY … FROM STDIN (FORMAT csv, HEADER)` of the same file's bytes into a
  bare table with the same four text columns (no index, no check);
- tables floor (in a child process, whose memory is its own): COPY of the rows the import
  will create, already checked, de-duplicated and numbered (untimed), straight into the
  product's own tables (addresses, contacts, list
  entries) with their indexes, unique and foreign keys, committed; then the tables are
  emptied again. No import can write less than this;
- import: `people.imports.run_import` of the uploaded file into a new target list (check every
  row, de-duplicate, create addresses, contacts, list entries and undo records, write the
  rejected rows), as the Celery task runs it.
It prints the times, the ratios (the issue's goal: import <= 1.5x floor) and the process's
peak memory (goal: < 300 MB), which the streamed import keeps flat.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import csv  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench.scratch import drop_database, recreate_database, setup_django  # noqa: E402

FIRST = ("José", "Ann", "Müller", "Zoë", "Li", "María", "Björn", "Chloé")
LAST = ("García", "Smith", "Öztürk", "Nakamura", "O'Brien", "Dubois", "Kowalski")


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Email", "First name", "Last name", "Title"])
        for n in range(rows):
            if n % 100 == 7:
                address = f"broken-address-{n}"
            elif n % 100 == 9 and n > 100:
                address = f"Person{n - 50}@Example.com"  # repeats an earlier row
            else:
                address = f"person{n}@example.com"
            writer.writerow([address, FIRST[n % 8], LAST[n % 7], "Buyer" if n % 3 else ""])


def floor_copy(path: Path) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_floor")
        cursor.execute("CREATE TABLE bench_floor (email text, first text, last text, title text)")
    start = time.perf_counter()
    with connection.cursor() as cursor, path.open("rb") as data:
        with cursor.copy("COPY bench_floor FROM STDIN (FORMAT csv, HEADER)") as copy:
            while chunk := data.read(1024 * 1024):
                copy.write(chunk)
    elapsed = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_floor")
    return elapsed


def checked_rows(path: Path) -> list[tuple]:
    """The rows the import will create: checked and de-duplicated as it does (untimed)."""
    from people.import_rows import Rejected, RowChecker

    checker = RowChecker(kind="contact", mapping=["email", "first_name", "last_name", "title"])
    rows = []
    with path.open(encoding="utf-8", newline="") as data:
        reader = csv.reader(data)
        next(reader)
        for row in reader:
            try:
                rows.append(checker.check(row))
            except Rejected:
                continue
    return rows


def tables_floor(rows: list[tuple]) -> float:
    """COPY of `rows` into the product's tables, committed; the tables are emptied after."""
    from django.db import connection, transaction

    from crm.models import Contact, EmailAddress
    from targetlists.models import TargetList, TargetListEntry

    target_list = TargetList.objects.create(name="Floor")
    now = "2026-01-01 00:00:00+00"
    lines = {
        EmailAddress: ("id, address, address_lower, opt_out, invalid, soft_bounces", []),
        Contact: ("id, email_address_id, created_at, first_name, last_name, title, phone", []),
        TargetListEntry: ("target_list_id, contact_id, opted_out, added_at", []),
    }
    for pk, (address, lower, first, last, title, _phone, _account) in enumerate(rows, 1):
        lines[EmailAddress][1].append(f"{pk}\t{address}\t{lower}\tf\tf\t0\n")
        lines[Contact][1].append(f"{pk}\t{pk}\t{now}\t{first}\t{last}\t{title}\t\n")
        lines[TargetListEntry][1].append(f"{target_list.pk}\t{pk}\tf\t{now}\n")
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for model, (columns, text) in lines.items():
            with cursor.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy:
                for at in range(0, len(text), 10_000):
                    copy.write("".join(text[at : at + 10_000]))
    elapsed = time.perf_counter() - start
    with connection.cursor() as cursor:
        tables = ", ".join(model._meta.db_table for model in lines)
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    target_list.delete()
    return elapsed


def in_child(work) -> float:
    """`work()` in a forked process, so its memory does not count in this one's peak."""
    import multiprocessing

    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    result = context.Queue()
    child = context.Process(target=lambda: result.put(work()))
    child.start()
    value = result.get()
    child.join()
    return value


def run_import(path: Path):
    from people import imports
    from people.models import PeopleImport

    with path.open("rb") as file:
        people_import = imports.upload(
            file,
            kind="contact",
            purpose=PeopleImport.Purpose.PEOPLE,
            duplicates=PeopleImport.Duplicates.SKIP,
            new_list_name="Benchmark import",
        )
    PeopleImport.objects.filter(pk=people_import.pk).update(
        status=PeopleImport.Status.QUEUED, mapping=people_import.mapping
    )
    start = time.perf_counter()
    done = imports.run_import(people_import.pk)
    return time.perf_counter() - start, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL to a PostgreSQL server (any database on it).", file=sys.stderr)
        return 2
    bench_url = recreate_database(base_url, "mm_bench_import")
    with tempfile.TemporaryDirectory(prefix="mm-bench-import-") as folder:
        os.environ["MEDIA_ROOT"] = folder
        try:
            return run(bench_url, Path(folder) / "contacts.csv", args.rows)
        finally:
            from django.db import connections

            connections.close_all()
            drop_database(base_url, "mm_bench_import")


def run(bench_url: str, path: Path, rows: int) -> int:
    setup_django(bench_url)
    from django.conf import settings

    # As in production: with DEBUG on, Django keeps the text of the last 9,000 queries, and a
    # batch's lookups carry its 20,000 addresses.
    settings.DEBUG = False
    write_csv(path, rows)
    size = path.stat().st_size
    print(f"file: {rows:,} rows, {size / 1e6:.1f} MB")
    floor = floor_copy(path)
    print(f"floor  COPY into a bare table   {floor:7.2f} s  ({rows / floor:,.0f} rows/s)")
    tables = in_child(lambda: tables_floor(checked_rows(path)))
    print(f"floor  COPY into our tables     {tables:7.2f} s  ({rows / tables:,.0f} rows/s)")
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    elapsed, done = run_import(path)
    print(f"import run_import               {elapsed:7.2f} s  ({rows / elapsed:,.0f} rows/s)")
    print(
        f"  status {done.status}: {done.created:,} created, {done.updated:,} updated, "
        f"{done.skipped:,} skipped, {done.rejected:,} rejected"
    )
    print(f"import / floor = {elapsed / floor:.2f} (the issue's goal: <= 1.5)")
    print(f"import / tables floor = {elapsed / tables:.2f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak memory of the process: {peak_mb:.0f} MB (goal < 300 MB); "
        f"{before_mb:.0f} MB before the import"
    )
    return 0 if done.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
