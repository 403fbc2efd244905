"""Many people at once, in set-based SQL: enrolling a list import's joins, and running the send
steps of a claim together, so that an automation's first step to 100,000 people costs about
what a mass email's queue does (bench/automation.py).

The people or enrolments a statement works on are one parameter (an array on PostgreSQL, a
JSON list on SQLite), not one placeholder each: the statements stay short whatever the count,
since psycopg parses every placeholder of a statement in Python, and thousands of them cost
more than the database's own work; and they are `id = ANY(array)`, never a join to the ids,
whose plan the statistics of tables filled in the same tick would make quadratic
(crm/value_lists.py). The same SQL runs on SQLite (≥ 3.33: UPDATE … FROM, window
functions, json_each) and PostgreSQL.
"""

import datetime
import json
from collections.abc import Sequence

from django.db import connection, models

from automation import people as persons
from automation.models import Automation, Enrolment, Step, StepRun
from campaigns.models import EmailQueueItem, MassEmail
from campaigns.sending.queue import RowDefaults
from crm.models import EmailAddress
from crm.value_lists import any_of_sql, list_param

# People per enrolling statement (a list import's read of the stream is 5,000).
PEOPLE_PER_STATEMENT = 10_000
QUEUED = "queued"
SHARED = "already queued to this address"


def people_sql(people: Sequence[persons.Person]) -> tuple[str, dict]:
    """A subquery of (person_type, person_id, n): `people` in their order n."""
    if connection.vendor == "postgresql":
        types = ",".join('"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t, _ in people)
        sql = (
            "SELECT p.person_type, p.person_id, p.n FROM unnest(%(types)s::text[], "
            "%(ids)s::bigint[]) WITH ORDINALITY AS p(person_type, person_id, n)"
        )
        ids = ",".join(str(int(pk)) for _t, pk in people)
        return sql, {"types": "{" + types + "}", "ids": "{" + ids + "}"}
    sql = (
        "SELECT json_extract(value, '$[0]') AS person_type, "
        "json_extract(value, '$[1]') AS person_id, key AS n FROM json_each(%(people)s)"
    )
    return sql, {"people": json.dumps([[t, int(pk)] for t, pk in people])}


def enrol_people(
    automation: Automation,
    people: Sequence[persons.Person],
    values: dict,
    now: datetime.datetime,
) -> int:
    """Insert an enrolment for each of `people` (distinct) that the re-entry rule lets in,
    with `values` (column -> value) in each: one INSERT … SELECT per 10,000 people, their
    earlier enrolments joined in SQL. Someone already active in it is left where they are
    (the partial unique index holds it under races). How many entered.

    A date trigger's enrolment (an `occurrence` in `values`: this year's birthday) is let in
    every year whatever the rule, and once for each date (a unique index); the rule counts
    only the enrolments for dates of the same year (a date edited within the year)."""
    rule, reentry = automation.reentry, {}
    if rule == Automation.Reentry.ALWAYS:
        may_reenter = "1 = 1"
    elif rule == Automation.Reentry.AFTER_DAYS:
        may_reenter = "e.last_entered <= %(reentry_before)s"
        before = now - datetime.timedelta(days=automation.reentry_days)
        reentry = {"reentry_before": _db_value(before)}
    else:
        may_reenter = "1 = 0"
    counted, year = _counted_entries(values.get("occurrence"))
    table = _table(Enrolment)
    given = ", ".join(_column(Enrolment, name) for name in values)
    constants = {f"v_{name}": _db_value(value) for name, value in values.items()}
    marks = ", ".join(f"%(v_{name})s" for name in values)
    entered = 0
    for start in range(0, len(people), PEOPLE_PER_STATEMENT):
        chunk = people[start : start + PEOPLE_PER_STATEMENT]
        source, params = people_sql(chunk)
        params["person_ids"] = list_param(person_id for _type, person_id in chunk)
        sql = f"""
            INSERT INTO {table} (automation_id, person_type, person_id, entry, {given})
            SELECT %(automation)s, p.person_type, p.person_id, COALESCE(e.entries, 0) + 1, {marks}
            FROM ({source}) p
            LEFT JOIN (
                SELECT person_type, person_id, MAX(entry) AS entries,
                       MAX(CASE WHEN {counted} THEN entered_at END) AS last_entered,
                       SUM(CASE WHEN {counted} THEN 1 ELSE 0 END) AS counted,
                       SUM(CASE WHEN status = %(active)s THEN 1 ELSE 0 END) AS active
                FROM {table}
                WHERE automation_id = %(automation)s
                  AND {any_of_sql("person_id", "%(person_ids)s")}
                GROUP BY person_type, person_id
            ) e ON e.person_type = p.person_type AND e.person_id = p.person_id
            WHERE e.person_id IS NULL OR (e.active = 0 AND (e.counted = 0 OR {may_reenter}))
            ORDER BY p.n
            ON CONFLICT DO NOTHING
        """
        params |= constants | reentry | year
        params |= {"automation": automation.pk, "active": Enrolment.Status.ACTIVE}
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            entered += cursor.rowcount
    return entered


def _counted_entries(occurrence: datetime.date | None) -> tuple[str, dict]:
    """The condition on earlier enrolments the re-entry rule counts, and its parameters:
    every one, or for a date trigger those for a date of the occurrence's year."""
    if occurrence is None:
        return "1 = 1", {}
    column = _column(Enrolment, "occurrence")
    first, last = datetime.date(occurrence.year, 1, 1), datetime.date(occurrence.year, 12, 31)
    condition = f"{column} BETWEEN %(year_first)s AND %(year_last)s"
    return condition, {"year_first": _db_value(first), "year_last": _db_value(last)}


def record_send_runs(
    step: Step, mass_email: MassEmail, ids: Sequence[int], types: Sequence[str], now
) -> None:
    """The StepRuns of a send step for the enrolments `ids` (people of `types`), in one
    INSERT … SELECT, each with what the step will do for it: "queued", or "person deleted",
    "no email address", "already queued to this address" (the mailing has it, or an enrolment
    of the claim entered earlier has the same address). Raises IntegrityError when one of
    them ran already (nothing is written then)."""
    joins, found, address = _people_joins(types)
    params = {"ids": list_param(ids)}
    sql = f"""
        INSERT INTO {_table(StepRun)} (enrolment_id, step_id, ran_at, outcome)
        SELECT x.id, %(step)s, %(now)s,
               CASE WHEN x.found IS NULL THEN 'person deleted'
                    WHEN x.address_id IS NULL THEN 'no email address'
                    WHEN x.address_rank > 1 OR EXISTS (
                        SELECT 1 FROM {_table(EmailQueueItem)} q
                        WHERE q.mass_email_id = %(mass_email)s AND q.is_test = %(false)s
                          AND q.email_address_id = x.address_id
                    ) THEN %(shared)s
                    ELSE %(queued)s END
        FROM (
            SELECT e.id, {found} AS found, {address} AS address_id,
                   ROW_NUMBER() OVER (PARTITION BY {address} ORDER BY e.id) AS address_rank
            FROM {_table(Enrolment)} e {joins}
            WHERE {any_of_sql("e.id", "%(ids)s")}
        ) x
        ORDER BY x.id
    """
    params |= {"step": step.pk, "now": _db_value(now), "mass_email": mass_email.pk}
    params |= {"false": False, "shared": SHARED, "queued": QUEUED}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def queue_send_runs(
    step: Step, mass_email: MassEmail, ids: Sequence[int], types: Sequence[str], now
) -> None:
    """The queue items of the enrolments `ids` whose StepRun says "queued", in one INSERT …
    SELECT in enrolment order, then each such StepRun pointed at its item; one whose address
    another worker queued meanwhile says "already queued to this address" instead."""
    joins, _found, address = _people_joins(types)
    params = {"ids": list_param(ids)}
    targets = ", ".join(f"{person_type}_id" for person_type in types)
    target_values = ", ".join(
        f"CASE WHEN e.person_type = '{person_type}' THEN e.person_id END" for person_type in types
    )
    given = {"mass_email_id", "email_address_id", "email", *(f"{t}_id" for t in types)}
    defaults = RowDefaults(EmailQueueItem, given, now)
    columns, values = defaults.columns, defaults.values
    runs, items = _table(StepRun), _table(EmailQueueItem)
    params |= defaults.params | {"step": step.pk, "mass_email": mass_email.pk, "queued": QUEUED}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {items} (mass_email_id, email_address_id, email, {targets}{columns})
            SELECT %(mass_email)s, a.id, a.address, {target_values}{values}
            FROM {runs} r
            JOIN {_table(Enrolment)} e ON e.id = r.enrolment_id
            {joins}
            JOIN {_table(EmailAddress)} a ON a.id = {address}
            WHERE r.step_id = %(step)s AND r.outcome = %(queued)s
              AND {any_of_sql("r.enrolment_id", "%(ids)s")}
            ORDER BY e.id
            ON CONFLICT DO NOTHING
            """,
            params,
        )
        for person_type in types:
            cursor.execute(
                f"""
                UPDATE {runs} SET queue_item_id = q.id
                FROM {_table(Enrolment)} e, {items} q
                WHERE {runs}.step_id = %(step)s AND {runs}.outcome = %(queued)s
                  AND {any_of_sql(runs + ".enrolment_id", "%(ids)s")}
                  AND e.id = {runs}.enrolment_id AND e.person_type = %(person_type)s
                  AND q.mass_email_id = %(mass_email)s AND q.{person_type}_id = e.person_id
                """,
                params | {"person_type": person_type},
            )
    StepRun.objects.filter(
        step=step, enrolment_id__any_of=ids, outcome=QUEUED, queue_item=None
    ).update(outcome=SHARED)


class Statistics:
    """PostgreSQL plans each statement from its statistics of the tables, and autovacuum renews
    them only some time after a bulk change (never, on a cluster run without it). A tick that
    enrols a list import's 100,000 people and runs their send steps fills these tables far
    faster: planned on the statistics of nearly empty tables, joining 5,000 StepRuns to their
    queue items became a nested loop over the whole table, quadratic (146 s for one statement
    at 40,000 people). So a tick ANALYZEs the tables it fills whenever it has written more rows
    than a fifth of what they held at their last ANALYZE (and at least GROWN): a few times a
    tick, whatever its size, each between its transactions. Nothing to do on SQLite."""

    TABLES = (Enrolment, StepRun, EmailQueueItem)
    GROWN = 2_000

    def __init__(self):
        self.written = 0
        self.analyzed_at = {model: 0 for model in self.TABLES}  # self.written at its ANALYZE
        self.rows: dict | None = None  # read when the tick first writes more than GROWN

    def wrote(self, rows: int) -> None:
        """`rows` more were written by the tick (enrolments, or send steps run)."""
        self.written += rows
        if self.written <= self.GROWN or connection.vendor != "postgresql":
            return
        if self.rows is None:
            self.rows = self._rows()
        stale = [
            model
            for model, known in self.rows.items()
            if self.written - self.analyzed_at[model] > max(self.GROWN, known // 5)
        ]
        if not stale:
            return
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {', '.join(_table(model) for model in stale)}")
        self.rows |= {model: counted for model, counted in self._rows().items() if model in stale}
        self.analyzed_at |= dict.fromkeys(stale, self.written)

    def _rows(self) -> dict:
        """Each table's rows as its statistics last counted them (pg_class.reltuples)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, GREATEST(reltuples, 0)::bigint FROM pg_class"
                " WHERE relname = ANY(%s) AND relkind = 'r' AND pg_table_is_visible(oid)",
                [[model._meta.db_table for model in self.TABLES]],
            )
            counted = dict(cursor.fetchall())
        return {model: counted.get(model._meta.db_table, 0) for model in self.TABLES}


def _people_joins(types: Sequence[str]) -> tuple[str, str, str]:
    """LEFT JOINs from the enrolments `e` to each type's people, and the expressions of the
    person's id (NULL when deleted) and address id."""
    models_by_type = persons.models_by_type()
    joins, found, address = [], [], []
    for person_type in types:
        alias = f"p_{person_type}"
        joins.append(
            f"LEFT JOIN {_table(models_by_type[person_type])} {alias} "
            f"ON e.person_type = '{person_type}' AND {alias}.id = e.person_id"
        )
        found.append(f"{alias}.id")
        address.append(f"{alias}.email_address_id")
    return " ".join(joins), _coalesce(found), _coalesce(address)


def _coalesce(expressions: list[str]) -> str:
    return expressions[0] if len(expressions) == 1 else f"COALESCE({', '.join(expressions)})"


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model: type[models.Model], name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _db_value(value):
    if isinstance(value, datetime.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, datetime.date):
        return connection.ops.adapt_datefield_value(value)
    return value
