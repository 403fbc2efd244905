"""The suppression list: addresses flagged opted out (no mass email at all) or invalid (hard
bounced), in bulk, as another system reports them; and lifting a flag, with consent.

Like a suppression import, flagging an address nobody uses yet stores it flagged, so that a
later import or signup finds it so. A few statements per call, whatever its size (up to
MAX_ITEMS). An opt-out, and an opt-out lifted, are kept as consent records (method API); an
opt-out is lifted only with the consent text the person agreed to.

Every way an address gets flagged (this API, the preference page, an unsubscribe, a
complaint, bounces, an import, an erasure, the admin) goes through `flag_addresses` (SQL of
its own through `record_flagged`): the stream hears of it as address.suppressed, once per
person with the address, in the same transaction, and automations end for every one of them.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import QuerySet

from crm import addresses, consent, events
from crm.models import Account, ConsentRecord, Contact, EmailAddress, Lead
from crm.models.people import normalize_address
from crm.value_lists import BIGINT, any_of

MAX_ITEMS = 10_000
BATCH = 5000
FLAGS = {"opted_out": "opt_out", "invalid": "invalid"}


class Result(StrEnum):
    SUPPRESSED = "suppressed"
    ALREADY_SUPPRESSED = "already_suppressed"
    LIFTED = "lifted"
    NOT_SUPPRESSED = "not_suppressed"
    INVALID = "invalid"
    DUPLICATE = "duplicate"


@dataclass
class ItemResult:
    value: object
    result: str
    error: str = ""


class ConsentRequired(ValueError):
    """Lifting an opt-out needs the consent text the person agreed to."""


@dataclass
class Checked:
    """The call's items: a result already for the invalid and repeated ones, and the address
    (lower-cased) of each other one."""

    results: list[ItemResult | None]
    keys: list[str | None]
    typed: dict[str, str]  # lower-cased → as typed, in order


def _check(values: list) -> Checked:
    checked = Checked([], [], {})
    for value in values:
        problem = "Not a text." if not isinstance(value, str) else addresses.problem(value)
        if not problem and len(value.strip()) > addresses.MAX_LENGTH:
            problem = f"Longer than {addresses.MAX_LENGTH} characters."
        key = None if problem else normalize_address(value)
        if problem:
            checked.results.append(ItemResult(value, Result.INVALID, problem))
        elif key in checked.typed:
            checked.results.append(ItemResult(value, Result.DUPLICATE))
            key = None
        else:
            checked.typed[key] = value.strip()
            checked.results.append(None)
        checked.keys.append(key)
    return checked


def _batches(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), BATCH):
        yield keys[start : start + BATCH]


def _stored(keys: list[str], flag: str) -> dict[str, tuple[int, str, bool]]:
    """lower-cased address → (id, address, flagged) of the stored ones among `keys`."""
    found = {}
    for batch in _batches(keys):
        rows = EmailAddress.objects.filter(address_lower__in=batch)
        for key, pk, address, flagged in rows.values_list("address_lower", "id", "address", flag):
            found[key] = (pk, address, flagged)
    return found


def _set(flag: str, keys: list[str], value: bool) -> None:
    for batch in _batches(keys):
        EmailAddress.objects.filter(address_lower__in=batch).update(**{flag: value})


def _record(action: str, rows: list[tuple[int, str, bool]], source: str, text: str) -> None:
    ConsentRecord.objects.bulk_create(
        [
            ConsentRecord(
                action=action,
                method=consent.Method.API,
                email_address_id=pk,
                email=address,
                source=source[:255],
                text=text,
            )
            for pk, address, _flagged in rows
        ],
        batch_size=1000,
    )


def suppress(values: list, reason: str, *, source: str = "") -> list[ItemResult]:
    """Flag the addresses (`reason`: opted_out or invalid), storing unknown ones flagged; a
    result per item, in order."""
    flag, checked = FLAGS[reason], _check(values)
    keys = list(checked.typed)
    with transaction.atomic():
        before = _stored(keys, flag)
        new = [key for key in keys if key not in before]
        EmailAddress.objects.bulk_create(
            [EmailAddress(address=checked.typed[k], address_lower=k, **{flag: True}) for k in new],
            batch_size=1000,
            ignore_conflicts=True,
        )
        unflagged = {pk: key for key, (pk, _address, is_set) in before.items() if not is_set}
        chosen = EmailAddress.objects.filter(pk__any_of=list(unflagged))
        flagged = flag_addresses(chosen, reason, via="api")
        done = set(new) | {unflagged[pk] for pk in flagged}
        if flag == "opt_out":
            after = _stored(sorted(done), flag)
            _record(consent.Action.OPT_OUT, list(after.values()), source, "")
    return _results(
        values, checked, lambda key: Result.SUPPRESSED if key in done else Result.ALREADY_SUPPRESSED
    )


def lift(values: list, reason: str, *, consent_text: str = "", source: str = "") -> list:
    """Lift the flag of the addresses; lifting an opt-out needs `consent_text` (else
    ConsentRequired), kept as a consent record for each address."""
    if reason == "opted_out" and not consent_text.strip():
        raise ConsentRequired("Lifting an opt-out needs the consent text the person agreed to.")
    flag, checked = FLAGS[reason], _check(values)
    with transaction.atomic():
        before = _stored(list(checked.typed), flag)
        flagged = {key: row for key, row in before.items() if row[2]}
        _set(flag, list(flagged), False)
        if flag == "opt_out":
            _record(consent.Action.OPT_IN, list(flagged.values()), source, consent_text)
    return _results(
        values, checked, lambda key: Result.LIFTED if key in flagged else Result.NOT_SUPPRESSED
    )


def _results(values: list, checked: Checked, outcome) -> list[ItemResult]:
    return [
        found if found is not None else ItemResult(value, outcome(key))
        for value, found, key in zip(values, checked.results, checked.keys, strict=True)
    ]


def flag_addresses(chosen: QuerySet, reason: str, *, via: str) -> list[int]:
    """Flag the addresses of `chosen` not flagged yet for `reason` (opted_out or invalid) and
    record address.suppressed for each person with one of them (`via` says how it came); the
    ids flagged. The rows are locked as they are read, so a concurrent call waits and then
    finds them flagged: each flag is told of once."""
    column = FLAGS[reason]
    unflagged = EmailAddress.objects.filter(pk__in=chosen.values("pk"), **{column: False})
    with transaction.atomic():
        locked = unflagged.select_for_update(of=("self",)).order_by("pk")
        ids = list(locked.values_list("pk", flat=True))
        if ids:  # most calls (a chunk's bounces, a repeated opt-out) have none to flag
            EmailAddress.objects.filter(pk__any_of=ids).update(**{column: True})
            record_flagged(ids, reason, via=via)
    return ids


def record_flagged(address_ids: list[int], reason: str, *, via: str) -> int:
    """address.suppressed for each person (account, contact, lead, user) with one of the
    addresses just flagged for `reason`, in one INSERT … SELECT; how many were recorded. An
    address nobody uses has no event: there is no one to tell of."""
    if not address_ids:
        return 0
    selects, params = [], []
    for sql in _people_with_addresses():
        condition, given = any_of("a.id", address_ids, BIGINT)
        selects.append(f"{sql} WHERE {condition}")
        params += given
    return events.record_rows(
        events.ADDRESS_SUPPRESSED,
        " UNION ALL ".join(selects),
        params,
        data={"email": "src.email", "email_address_id": "src.address_id"},
        constants={"reason": reason, "via": via},
    )


def _people_with_addresses() -> list[str]:
    """Per kind of person, SQL of rows (person_type, person_id, address_id, email) of people
    joined to their address `a` (a User's is its email field)."""
    quote = connection.ops.quote_name
    table = quote(EmailAddress._meta.db_table)
    columns = "p.id AS person_id, a.id AS address_id, a.address AS email"
    found = []
    for model in (Account, Contact, Lead):
        kind = model._meta.model_name
        found.append(
            f"SELECT '{kind}' AS person_type, {columns} FROM {quote(model._meta.db_table)} p "
            f"JOIN {table} a ON a.id = p.email_address_id"
        )
    users = quote(get_user_model()._meta.db_table)
    found.append(
        f"SELECT 'user' AS person_type, {columns} FROM {users} p "
        f"JOIN {table} a ON a.address_lower = LOWER(p.email)"
    )
    return found
