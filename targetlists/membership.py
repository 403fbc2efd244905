"""A target list's members in bulk, by record ids or by email addresses: add, remove, opt out.

One call takes up to MAX_ITEMS items and does a few set-based statements whatever their number
(the values travel as one parameter: crm.value_lists), so adding 100,000 addresses costs about
what the admin's "Add to target list" costs for the same people. Every item gets its own result,
in the order given; one bad item never stops the others.

Rules, as everywhere in the product:
- an address finds every record of the kind with that address (shared EmailAddress rows);
- an entry opted out of the list stays opted out when it is added again, unless the caller
  resubscribes it with the person's consent (kept as a consent record);
- removing never deletes an opted-out entry (its opt-out would be lost and a later add would
  subscribe the person again): such items answer `opted_out`;
- opting out a person who is not in the list adds an opted-out entry, so that no later add
  subscribes them.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum

from django.db import connection, transaction
from django.utils import timezone

from crm import addresses, consent, events
from crm.models import Account, Contact, EmailAddress, Lead
from crm.models.people import normalize_address
from crm.value_lists import BIGINT, TEXT, any_of, rows_sql
from targetlists.member_events import record_ids
from targetlists.models import TargetList, TargetListEntry

MAX_ITEMS = 100_000
MODELS = {"contact": Contact, "lead": Lead, "account": Account}
EMAILS, IDS = "emails", "ids"
LARGEST_ID = 2**63 - 1


class Result(StrEnum):
    ADDED = "added"
    ALREADY_MEMBER = "already_member"
    OPTED_OUT = "opted_out"  # the entry is (now, or still) opted out of the list
    ALREADY_OPTED_OUT = "already_opted_out"
    RESUBSCRIBED = "resubscribed"
    REMOVED = "removed"
    NOT_MEMBER = "not_member"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    DUPLICATE = "duplicate"  # the same address or id earlier in the call


# When one address finds several records, the item reports the first of these that happened.
PRECEDENCE = list(Result)


@dataclass(frozen=True)
class Selection:
    """Who a call is about: `kind` (contact, lead, account), `by` (emails or ids), `values`."""

    kind: str
    by: str
    values: list


@dataclass
class ItemResult:
    value: object  # as given
    result: str
    ids: list[int] = field(default_factory=list)
    error: str = ""


@dataclass
class Found:
    """The records the valid, distinct items found: item index → [(id, entry opted out?)]."""

    items: list[ItemResult | None]
    people: dict[int, list[tuple[int, bool | None]]]

    def ids(self, where=lambda opted_out: True) -> list[int]:
        return sorted({pk for rows in self.people.values() for pk, state in rows if where(state)})


def _prepared(selection: Selection) -> tuple[list, list, list[int]]:
    """(results so far, lookup keys, their item indexes): invalid and repeated items answered."""
    results: list[ItemResult | None] = [None] * len(selection.values)
    keys, positions, seen = [], [], set()
    for index, value in enumerate(selection.values):
        if selection.by == EMAILS:
            valid = isinstance(value, str) and 0 < len(value.strip()) <= addresses.MAX_LENGTH
            key = normalize_address(value) if valid else None
        else:
            valid = type(value) is int and 0 < value <= LARGEST_ID
            key = value
        if not valid:
            results[index] = ItemResult(value, Result.INVALID, error=_invalid(selection.by))
        elif key in seen:
            results[index] = ItemResult(value, Result.DUPLICATE)
        else:
            seen.add(key)
            keys.append(key)
            positions.append(index)
    return results, keys, positions


def _invalid(by: str) -> str:
    if by == EMAILS:
        return "Not an email address: a text of 1 to 254 characters."
    return "Not an id: a whole number from 1."


def find(target_list: TargetList, selection: Selection) -> Found:
    """The records the selection names, each with its entry's opt-out in the list (None: no
    entry); raises ValueError for an unknown kind."""
    model = MODELS[selection.kind]
    results, keys, positions = _prepared(selection)
    quote = connection.ops.quote_name
    people, entries = quote(model._meta.db_table), quote(TargetListEntry._meta.db_table)
    column = quote(TargetListEntry._meta.get_field(selection.kind).column)
    rows, params = rows_sql(keys, TEXT if selection.by == EMAILS else BIGINT)
    if selection.by == EMAILS:
        join = (
            f"JOIN {quote(EmailAddress._meta.db_table)} a ON a.address_lower = i.v "
            f"JOIN {people} p ON p.email_address_id = a.id"
        )
    else:
        join = f"JOIN {people} p ON p.id = i.v"
    sql = (
        f"SELECT i.n, p.id, e.opted_out FROM ({rows}) i {join} "
        f"LEFT JOIN {entries} e ON e.target_list_id = %s AND e.{column} = p.id"
    )
    found = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, target_list.pk])
        for n, pk, opted_out in cursor.fetchall():
            state = None if opted_out is None else bool(opted_out)
            found[positions[n]].append((pk, state))
    return Found(results, dict(found))


def _answer(selection: Selection, found: Found, outcome_of) -> list[ItemResult]:
    """Each item's result: its records' outcomes (`outcome_of(id, state)`), or not found."""
    answered = []
    for index, value in enumerate(selection.values):
        if found.items[index] is not None:
            answered.append(found.items[index])
            continue
        rows = found.people.get(index)
        if not rows:
            error = addresses.problem(value) if selection.by == EMAILS else ""
            answered.append(
                ItemResult(value, Result.INVALID if error else Result.NOT_FOUND, [], error)
            )
            continue
        outcomes = [outcome_of(pk, state) for pk, state in rows]
        best = min(outcomes, key=PRECEDENCE.index)
        answered.append(ItemResult(value, best, sorted(pk for pk, _state in rows)))
    return answered


class ConsentRequired(ValueError):
    """Resubscribing an opted-out entry needs the consent text the person agreed to."""


def _sql_names(kind: str) -> tuple[str, str]:
    quote = connection.ops.quote_name
    entries = quote(TargetListEntry._meta.db_table)
    return entries, quote(TargetListEntry._meta.get_field(kind).column)


def _returned(sql: str, params: list) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _insert(target_list: TargetList, kind: str, ids: list[int], opted_out: bool) -> set[int]:
    """Add entries for `ids` (ON CONFLICT: one already there is left alone); the ids added."""
    if not ids:
        return set()
    entries, column = _sql_names(kind)
    rows, params = rows_sql(ids, BIGINT)
    added_at = TargetListEntry._meta.get_field("added_at").get_db_prep_value(
        timezone.now(), connection
    )
    sql = (
        f"INSERT INTO {entries} (target_list_id, {column}, opted_out, added_at) "
        f"SELECT %s, i.v, %s, %s FROM ({rows}) i WHERE 1 = 1 "
        f"ON CONFLICT DO NOTHING RETURNING {column}"
    )
    return _returned(sql, [target_list.pk, opted_out, added_at, *params])


def _switch(target_list: TargetList, kind: str, ids: list[int], opted_out: bool) -> set[int]:
    """Set the entries of `ids` opted out (or not); the ids whose flag changed."""
    if not ids:
        return set()
    entries, column = _sql_names(kind)
    among, params = any_of(column, ids, BIGINT)
    sql = (
        f"UPDATE {entries} SET opted_out = %s WHERE target_list_id = %s "
        f"AND {among} AND opted_out = %s RETURNING {column}"
    )
    return _returned(sql, [opted_out, target_list.pk, *params, not opted_out])


def _delete(target_list: TargetList, kind: str, ids: list[int]) -> set[int]:
    """Delete the entries of `ids` that are not opted out; the ids removed."""
    if not ids:
        return set()
    entries, column = _sql_names(kind)
    among, params = any_of(column, ids, BIGINT)
    sql = (
        f"DELETE FROM {entries} WHERE target_list_id = %s "
        f"AND {among} AND opted_out = %s RETURNING {column}"
    )
    return _returned(sql, [target_list.pk, *params, False])


def add(
    target_list: TargetList,
    selection: Selection,
    *,
    resubscribe: bool = False,
    consent_text: str = "",
    source: str = "",
) -> list[ItemResult]:
    """Add the selection to the list; with `resubscribe` (and the person's `consent_text`,
    else ConsentRequired) lift the opt-outs of its entries, recording the consent."""
    if resubscribe and not consent_text.strip():
        raise ConsentRequired("Resubscribing needs the consent text the people agreed to.")
    with transaction.atomic():
        found = find(target_list, selection)
        added = _insert(target_list, selection.kind, found.ids(lambda s: s is None), False)
        back = set()
        if resubscribe:
            back = _switch(target_list, selection.kind, found.ids(lambda s: s is True), False)
            consent.record_for_people(
                consent.Action.OPT_IN,
                consent.Method.API,
                MODELS[selection.kind],
                sorted(back),
                source=source or target_list.name,
                text=consent_text,
            )
        record_ids(events.LIST_MEMBER_ADDED, target_list.pk, selection.kind, added | back)

    def outcome(pk: int, state: bool | None) -> str:
        if pk in added:
            return Result.ADDED
        if pk in back:
            return Result.RESUBSCRIBED
        return Result.OPTED_OUT if state else Result.ALREADY_MEMBER

    return _answer(selection, found, outcome)


def remove(target_list: TargetList, selection: Selection) -> list[ItemResult]:
    """Remove the selection from the list; opted-out entries stay (their opt-out is kept)."""
    with transaction.atomic():
        found = find(target_list, selection)
        removed = _delete(target_list, selection.kind, found.ids(lambda s: s is False))
        record_ids(events.LIST_MEMBER_REMOVED, target_list.pk, selection.kind, removed)

    def outcome(pk: int, state: bool | None) -> str:
        if pk in removed:
            return Result.REMOVED
        return Result.OPTED_OUT if state else Result.NOT_MEMBER

    return _answer(selection, found, outcome)


def opt_out(target_list: TargetList, selection: Selection, *, source: str = "") -> list:
    """Opt the selection out of the list (adding opted-out entries for those not in it), with
    a consent record (opted out, through the API) for each one newly opted out."""
    with transaction.atomic():
        found = find(target_list, selection)
        switched = _switch(target_list, selection.kind, found.ids(lambda s: s is False), True)
        added = _insert(target_list, selection.kind, found.ids(lambda s: s is None), True)
        consent.record_for_people(
            consent.Action.OPT_OUT,
            consent.Method.API,
            MODELS[selection.kind],
            sorted(switched | added),
            source=source or target_list.name,
        )
        # An entry opted out stays in the list but gets no mail from it: a member no more.
        kind = selection.kind
        record_ids(events.LIST_MEMBER_REMOVED, target_list.pk, kind, switched, opted_out=True)

    def outcome(pk: int, state: bool | None) -> str:
        if pk in switched or pk in added:
            return Result.OPTED_OUT
        return Result.ALREADY_OPTED_OUT

    return _answer(selection, found, outcome)


def counts(results: list[ItemResult]) -> dict[str, int]:
    """How many items had each result."""
    tally: dict[str, int] = defaultdict(int)
    for item in results:
        tally[str(item.result)] += 1
    return dict(tally)
