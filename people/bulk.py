"""Bulk reads and writes of many rows at once, on PostgreSQL and SQLite alike.

An import writes tens of thousands of rows per batch: PostgreSQL gets them by COPY and reads
them back with one `= ANY(array)` query; SQLite, by one executemany and `IN (json_each)`.
Ids are taken ahead from the table's sequence, so the rows that refer to a new row can be
written in the same pass, without reading the new ids back.
"""

import json
from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import Model
from django.utils import timezone


def where_in(column: str, values: Sequence[str] | Sequence[int]) -> tuple[str, object]:
    """(a condition that `column` is one of `values`, its one parameter). The values are all
    text without newlines (addresses) or all integers; sent as one string, not one parameter
    each or an array psycopg would have to build value by value."""
    numbers = bool(values) and isinstance(values[0], int)
    if connection.vendor == "postgresql":
        if numbers:
            return f"{column} = ANY(string_to_array(%s, ',')::bigint[])", ",".join(map(str, values))
        return f"{column} = ANY(string_to_array(%s, E'\\n'))", "\n".join(values)
    return f"{column} IN (SELECT value FROM json_each(%s))", json.dumps(list(values))


def new_ids(cursor, model: type[Model], count: int) -> list[int]:
    """`count` ids for new rows of `model`, that no other writer will use.

    PostgreSQL: taken from the table's sequence. SQLite: after the highest used so far; the
    caller's transaction holds the database's write lock (transaction_mode IMMEDIATE), so no
    other writer comes between."""
    if not count:
        return []
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        # The sequence by name: pg_get_serial_sequence() in the query would run once per id.
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
        cursor.execute(
            "SELECT string_agg(nextval(%s::regclass)::text, ',') FROM generate_series(1, %s)",
            [sequence, count],
        )
        return [int(pk) for pk in cursor.fetchone()[0].split(",")]
    cursor.execute(f"SELECT MAX(id) FROM {table}")
    highest = cursor.fetchone()[0] or 0
    cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
    found = cursor.fetchone()
    start = max(highest, found[0] if found else 0) + 1
    return list(range(start, start + count))


def copy_rows(cursor, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """PostgreSQL: `rows` into `table` with one COPY. Its errors are Django's (IntegrityError…),
    as for Django's own queries: COPY is psycopg's own."""
    with connection.wrap_database_errors:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


class Inserter:
    """Inserts rows of one model that give the fields named in `given` (attnames, in order);
    every other column takes `fixed`'s value, else the field's default (now for auto_now
    dates). An automatic id not in `given` is left to the database."""

    def __init__(self, model: type[Model], given: Sequence[str], fixed: dict | None = None):
        fixed = fixed or {}
        now = timezone.now()
        self.table = model._meta.db_table
        columns, constants = [], []
        for field in model._meta.concrete_fields:
            if field.attname in given or (field.primary_key and field.attname not in fixed):
                continue
            if field.attname in fixed:
                value = fixed[field.attname]
            elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                value = now
            else:
                value = field.get_default()
            columns.append(field.column)
            constants.append(field.get_db_prep_save(value, connection))
        by_attname = {f.attname: f.column for f in model._meta.concrete_fields}
        self.columns = [by_attname[name] for name in given] + columns
        self.constants = tuple(constants)

    def insert(self, cursor, rows: Iterable[tuple]) -> None:
        names = ", ".join(self.columns)
        constants = self.constants
        if connection.vendor == "postgresql":
            copy_rows(cursor, self.table, self.columns, (row + constants for row in rows))
            return
        marks = ", ".join(["%s"] * len(self.columns))
        cursor.executemany(
            f"INSERT INTO {self.table} ({names}) VALUES ({marks})",
            [row + constants for row in rows],
        )


def update_rows(cursor, model: type[Model], names: Sequence[str], rows: list[tuple]) -> None:
    """Set the fields `names` (attnames) of `model`'s rows: each row is (id, *values).

    PostgreSQL: one COPY into a temporary table and one UPDATE … FROM it. SQLite: one
    executemany (SQLite runs in this process: no round trip per row)."""
    if not rows:
        return
    table = model._meta.db_table
    fields = {f.attname: f for f in model._meta.concrete_fields}
    # The records' own auto_now date (people's updated_at) moves with them, as save() would.
    stamped = [
        f for f in fields.values() if getattr(f, "auto_now", False) and f.attname not in names
    ]
    now = [f.get_db_prep_save(timezone.now(), connection) for f in stamped]
    stamps = "".join(f", {f.column} = %s" for f in stamped)
    if connection.vendor != "postgresql":
        sets = ", ".join(f"{name} = %s" for name in names)
        cursor.executemany(
            f"UPDATE {table} SET {sets}{stamps} WHERE id = %s",
            [(*row[1:], *now, row[0]) for row in rows],
        )
        return
    columns = ", ".join(f"{name} {fields[name].db_type(connection)}" for name in names)
    changes = f"{table}_changes"
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {changes} (id bigint, {columns})")
    copy_rows(cursor, changes, ["id", *names], rows)
    sets = ", ".join(f"{name} = c.{name}" for name in names)
    cursor.execute(
        f"UPDATE {table} SET {sets}{stamps} FROM {changes} c WHERE {table}.id = c.id", now
    )
    cursor.execute(f"TRUNCATE {changes}")
