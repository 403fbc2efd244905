"""The suppression list: addresses flagged opted out (no mass email at all) or invalid (hard
bounced), in bulk, as another system reports them; and lifting a flag, with consent.

Like a suppression import, flagging an address nobody uses yet stores it flagged, so that a
later import or signup finds it so. A few statements per call, whatever its size (up to
MAX_ITEMS). An opt-out, and an opt-out lifted, are kept as consent records (method API); an
opt-out is lifted only with the consent text the person agreed to.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from django.db import transaction

from crm import addresses, consent
from crm.models import ConsentRecord, EmailAddress
from crm.models.people import normalize_address

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
        unflagged = [key for key, (_pk, _address, flagged) in before.items() if not flagged]
        _set(flag, unflagged, True)
        done = set(new) | set(unflagged)
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
