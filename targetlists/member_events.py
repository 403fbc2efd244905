"""list.member_added / list.member_removed in the event stream (crm/events.py), recorded by
one INSERT … SELECT per call whatever its size: the members' rows never come into Python."""

from django.contrib.auth import get_user_model
from django.db import connection

from crm import events
from crm.models import Account, Contact, EmailAddress, Lead
from crm.value_lists import BIGINT, rows_sql

PEOPLE = {"contact": Contact, "lead": Lead, "account": Account}


def _people_select(kind: str, members_sql: str) -> str:
    """Rows (list_id, person_type, person_id, email) for `members_sql`'s rows (list_id,
    person_id), people of `kind`."""
    quote = connection.ops.quote_name
    columns = f"m.list_id, '{kind}' AS person_type, m.person_id"
    if kind == "user":
        users = quote(get_user_model()._meta.db_table)
        return (
            f"SELECT {columns}, p.email AS email FROM ({members_sql}) m "
            f"JOIN {users} p ON p.id = m.person_id"
        )
    people = quote(PEOPLE[kind]._meta.db_table)
    addresses = quote(EmailAddress._meta.db_table)
    return (
        f"SELECT {columns}, a.address AS email FROM ({members_sql}) m "
        f"JOIN {people} p ON p.id = m.person_id "
        f"LEFT JOIN {addresses} a ON a.id = p.email_address_id"
    )


def record_kinds(type: str, members: list[tuple[str, str, list]], **constants) -> int:
    """One `type` event per row (list_id, person_id) of each (kind, members_sql, params), all
    in one insert; `constants` are added to every payload."""
    union = " UNION ALL ".join(_people_select(kind, sql) for kind, sql, _params in members)
    params = [param for _kind, _sql, given in members for param in given]
    data = {"list_id": "src.list_id", "email": "src.email"}
    return events.record_rows(type, union, params, data=data, constants=constants)


def record_members(type: str, kind: str, members_sql: str, params: list, **constants) -> int:
    """One `type` event per row (list_id, person_id) of `members_sql`, people of `kind`."""
    return events.record_rows(
        type,
        _people_select(kind, members_sql),
        params,
        person_type=kind,
        data={"list_id": "src.list_id", "email": "src.email"},
        constants=constants,
    )


def record_ids(type: str, list_id: int, kind: str, ids, **constants) -> int:
    """One `type` event for each of `ids` (people of `kind`) in the list `list_id`."""
    if not ids:
        return 0
    rows, params = rows_sql(sorted(ids), BIGINT)
    members = f"SELECT %s AS list_id, i.v AS person_id FROM ({rows}) i"
    return record_members(type, kind, members, [list_id, *params], **constants)
