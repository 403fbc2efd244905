"""A Python list as the rows of a subquery, in one parameter whatever its length.

`rows_sql(values, kind)` gives SQL for `(SELECT n, v …)`: one row per value, `n` its index
(from 0) and `v` the value, so that a set-based statement can join 100,000 addresses or ids
without 100,000 placeholders (PostgreSQL allows 65,535 a statement, SQLite 32,766). On
PostgreSQL the list is one array (`unnest … WITH ORDINALITY`); on SQLite one JSON text
(`json_each`).
"""

import json

from django.db import connection

TEXT = "text"
BIGINT = "bigint"


def rows_sql(values: list, kind: str, using=connection) -> tuple[str, list]:
    """(SQL of a subquery with columns n, v, its parameters) for `values` of `kind`."""
    if using.vendor == "postgresql":
        sql = (
            f"SELECT (i.n - 1) AS n, i.v AS v FROM unnest(%s::{kind}[]) WITH ORDINALITY AS i(v, n)"
        )
        return sql, [list(values)]
    return "SELECT CAST(key AS INTEGER) AS n, value AS v FROM json_each(%s)", [json.dumps(values)]


def any_of(column: str, values: list, kind: str, using=connection) -> tuple[str, list]:
    """SQL `column IN (the values)` with one parameter, and its parameters."""
    if using.vendor == "postgresql":
        return f"{column} = ANY(%s::{kind}[])", [list(values)]
    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(values)]
