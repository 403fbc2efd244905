"""Create or update a person by email address or external id: what integrations sync with.

`upsert` finds the record of the kind (Account, Contact or Lead) by its external id, else by
its address (the oldest record with it that has no other external id), and merges the given
fields as asked: `fill` the empty fields, `overwrite` them all, or `keep` the record as it is.
It is safe to run twice at once: the shared address row is locked for the transaction, and an
external id taken meanwhile is found on the retry.

Consent follows the product's rules whatever the merge: an address erased on request is
refused; `opted_out: true` always opts the address out; an opted-out address is subscribed
again only with `resubscribe` and the `consent_text` the person agreed to; each change is
kept as a consent record (method API).
"""

from dataclasses import dataclass, field
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from crm import consent, person_events, suppression
from crm.address_fields import validate_stored_address
from crm.models import Account, Contact, EmailAddress, Lead

FIELDS = {
    Contact: ("first_name", "last_name", "title", "phone", "account"),
    Lead: ("first_name", "last_name", "title", "phone", "account_name", "status", "source"),
    Account: ("name", "website", "industry", "phone"),
}


class Merge(StrEnum):
    FILL = "fill"
    OVERWRITE = "overwrite"
    KEEP = "keep"


class UpsertRefused(ValueError):
    """The upsert cannot be done; `code` says why (address_suppressed, consent_required,
    external_id_taken, invalid_fields), `errors` which fields."""

    def __init__(self, code: str, message: str, errors: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.errors = code, errors or {}


@dataclass(frozen=True)
class Consent:
    """What the call says about the address: opt it out, or subscribe it again."""

    opted_out: bool | None = None
    resubscribe: bool = False
    text: str = ""
    source: str = ""


@dataclass
class Upserted:
    person: models.Model
    created: bool
    changed: list[str] = field(default_factory=list)


def check_address(email: str) -> str:
    """The address as typed, stripped; raises UpsertRefused if it cannot be used."""
    email = email.strip()
    try:
        validate_stored_address(email)
    except ValidationError as exc:
        raise UpsertRefused("invalid_fields", exc.messages[0], {"email": exc.messages}) from exc
    if consent.is_suppressed(email):
        raise UpsertRefused(
            "address_suppressed",
            "The person with this address asked to be erased; it is not added again.",
            {"email": ["This address was erased on request."]},
        )
    return email


def upsert(
    model: type[models.Model],
    *,
    email: str = "",
    external_id: str | None = None,
    values: dict,
    merge: str = Merge.FILL,
    wish: Consent = Consent(),
) -> Upserted:
    """Create or update the record (see the module); raises UpsertRefused."""
    if not email and not external_id:
        errors = {"email": ["Give `email` or `external_id`."]}
        raise UpsertRefused("invalid_fields", "Give `email` or `external_id`.", errors)
    if wish.resubscribe and not wish.text.strip():
        raise UpsertRefused("consent_required", "Resubscribing needs `consent_text`.")
    email = check_address(email) if email else ""
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _upsert(model, email, external_id, values, Merge(merge), wish)
        except IntegrityError:
            if attempt:
                raise  # not a race on the external id: a real conflict
    raise AssertionError("unreachable")


def _upsert(model, email, external_id, values, merge, wish) -> Upserted:
    address = None
    if email:
        row = EmailAddress.for_address(email)
        address = EmailAddress.objects.select_for_update().get(pk=row.pk)
    person = _find(model, address, external_id)
    if person is None:
        person = model(email_address=address, external_id=external_id, **values)
        save_person(person)
        person_events.created(person, via="api")
        result = Upserted(person, created=True, changed=sorted(values))
    else:
        result = Upserted(person, False, _merge(person, address, external_id, values, merge))
        person_events.updated(person, result.changed, via="api")
    _apply_consent(person, wish)
    return result


def _find(model, address: EmailAddress | None, external_id: str | None):
    records = model.objects.select_for_update().order_by("pk")
    if external_id:
        found = records.filter(external_id=external_id).first()
        if found is not None or address is None:
            return found
        return records.filter(email_address=address, external_id__isnull=True).first()
    return records.filter(email_address=address).first()


def _empty(value) -> bool:
    return value is None or value == ""


def _merge(person, address, external_id, values, merge: Merge) -> list[str]:
    """Set the given fields on an existing record as `merge` says; the names changed."""
    if merge == Merge.KEEP:
        return []
    wanted = dict(values)
    if external_id and person.external_id != external_id:
        wanted["external_id"] = external_id
    if address is not None and person.email_address_id != address.pk:
        wanted["email_address"] = address
    changed = []
    for name, value in wanted.items():
        current = getattr(person, name)
        if current == value or (merge == Merge.FILL and not _empty(current)):
            continue
        setattr(person, name, value)
        changed.append("email" if name == "email_address" else name)
    if changed:
        save_person(person)
    return sorted(changed)


def save_person(person) -> None:
    """Check and save a record; raises UpsertRefused (external_id_taken, invalid_fields)."""
    taken = type(person).objects.filter(external_id=person.external_id).exclude(pk=person.pk)
    if person.external_id is not None and taken.exists():
        raise UpsertRefused(
            "external_id_taken",
            "Another record of this kind has that external_id.",
            {"external_id": ["Taken by another record."]},
        )
    try:
        # The address is the shared row, checked where it was typed (check_address).
        person.full_clean(exclude=["email_address"], validate_constraints=False)
    except ValidationError as exc:
        raise UpsertRefused("invalid_fields", "Some fields are invalid.", exc.message_dict) from exc
    person.save()


def _apply_consent(person, wish: Consent) -> None:
    """Opt the address out, or in again, as the call says, with its consent record."""
    address = person.email_address
    if address is None:
        return
    if wish.opted_out and not address.opt_out:
        chosen = EmailAddress.objects.filter(pk=address.pk)
        suppression.flag_addresses(chosen, "opted_out", via="api")
        address.opt_out = True
        _record(consent.Action.OPT_OUT, person, address, wish)
    elif wish.resubscribe and address.opt_out:
        EmailAddress.objects.filter(pk=address.pk).update(opt_out=False)
        address.opt_out = False
        _record(consent.Action.OPT_IN, person, address, wish)
    elif wish.text.strip() and not address.opt_out and not wish.opted_out:
        _record(consent.Action.OPT_IN, person, address, wish)


def _record(action: str, person, address: EmailAddress, wish: Consent) -> None:
    consent.record(
        action,
        consent.Method.API,
        address=address,
        person=person,
        source=wish.source,
        text=wish.text if action == consent.Action.OPT_IN else "",
    )


def create_person(
    model: type[models.Model],
    *,
    email: str = "",
    external_id: str | None = None,
    values: dict,
    wish: Consent = Consent(),
) -> models.Model:
    """A new record (whoever else has the address); raises UpsertRefused."""
    if wish.resubscribe and not wish.text.strip():
        raise UpsertRefused("consent_required", "Resubscribing needs `consent_text`.")
    email = check_address(email) if email else ""
    with transaction.atomic():
        address = EmailAddress.for_address(email) if email else None
        person = model(email_address=address, external_id=external_id, **values)
        save_person(person)
        person_events.created(person, via="api")
        _apply_consent(person, wish)
    return person


def change_person(
    person: models.Model,
    *,
    values: dict,
    email: str | None = None,
    wish: Consent = Consent(),
) -> list[str]:
    """Set the given fields (and address: '' removes it); the names changed. Raises
    UpsertRefused."""
    if wish.resubscribe and not wish.text.strip():
        raise UpsertRefused("consent_required", "Resubscribing needs `consent_text`.")
    if email:
        email = check_address(email)
    with transaction.atomic():
        changed = [name for name, value in values.items() if getattr(person, name) != value]
        for name in changed:
            setattr(person, name, values[name])
        if email is not None:
            address = EmailAddress.for_address(email) if email else None
            if person.email_address_id != (address.pk if address else None):
                person.email_address = address
                changed.append("email")
        if changed:
            save_person(person)
            person_events.updated(person, changed, via="api")
        _apply_consent(person, wish)
    return sorted(changed)
