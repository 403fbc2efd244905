"""A Python list as the rows of a subquery, in one parameter whatever its length.

`rows_sql(values, kind)` gives SQL for `(SELECT n, v …)`: one row per value, `n` its index
(from 0) and `v` the value, so that a set-based statement can join 100,000 addresses or ids
without 100,000 placeholders (PostgreSQL allows 65,535 a statement, SQLite 32,766). On
PostgreSQL the list is one array (`unnest … WITH ORDINALITY`); on SQLite one JSON text
(`json_each`).

`column IN (SELECT v FROM rows_sql(…))` is a join, and the planner may loop over it once for
each row of a table whose statistics say it is nearly empty, as they do for a table filled in
the same run (automation's StepRuns grew to 100,000 in one tick, and each 5,000-row insert that
joined them this way took up to 30 s: quadratic). A filter on many values is therefore
`any_of`, in raw SQL, or `field__any_of=values` in the ORM: `column = ANY(array)`, which
PostgreSQL uses as an index condition, or as a hashed filter when it scans (≥ 14), linear
whatever the statistics.
"""

import json

from django.db import connection
from django.db.models import Field, ForeignObject, Lookup

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
    return any_of_sql(column, "%s", kind, using), [list_param(values, using)]


def any_of_sql(column: str, placeholder: str, kind: str = BIGINT, using=connection) -> str:
    """SQL `column IN (the values)`, the values being the one parameter `placeholder` (`%s`,
    or `%(name)s` in a statement with named parameters) given by list_param."""
    if using.vendor == "postgresql":
        return f"{column} = ANY({placeholder}::{kind}[])"
    return f"{column} IN (SELECT value FROM json_each({placeholder}))"


def list_param(values, using=connection):
    """`values` as rows_sql's and any_of_sql's one parameter: a list for PostgreSQL's array,
    JSON text for SQLite."""
    values = list(values)
    return values if using.vendor == "postgresql" else json.dumps(values)


class AnyOf(Lookup):
    """`field__any_of=ids` in the ORM: `field__in=ids` with the integer ids as one parameter."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self):
        return sorted({int(pk) for pk in self.rhs})

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        sql = any_of_sql(lhs, "%s", BIGINT, connection)
        return sql, (*lhs_params, list_param(self.rhs, connection))


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # a relation's lookups do not inherit Field's
