"""Keeping consent: every opt-in and opt-out is recorded, and erased addresses stay suppressed.

Imports, signup forms, the opt-out page, one-click unsubscribes, complaints and the API all
call `record` (or `record_for_people` for many at once); what a person agreed to is kept with
the record, and the client's IP address only as a keyed hash.
"""

import hashlib
import hmac

from django.conf import settings

from crm.models import ConsentRecord, EmailAddress, SuppressedAddress
from crm.models.people import normalize_address, target_type_of

Action = ConsentRecord.Action
Method = ConsentRecord.Method


def client_hash(ip_address: str) -> str:
    """A keyed hash of a client's IP address ('' for none): never the address itself."""
    if not ip_address:
        return ""
    key = hashlib.sha256(f"massmail.consent.client:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, ip_address.encode(), hashlib.sha256).hexdigest()


def address_hash(address: str) -> str:
    """The hash an erased address is kept as (stable across SECRET_KEY rotations)."""
    return hashlib.sha256(f"massmail.erased:{normalize_address(address)}".encode()).hexdigest()


def is_suppressed(address: str) -> bool:
    """Whether the address belongs to a person who asked to be erased."""
    return SuppressedAddress.objects.filter(address_hash=address_hash(address)).exists()


def suppressed_hashes() -> set[str]:
    """Every suppressed hash (erasures are few), for checks over a whole import."""
    return set(SuppressedAddress.objects.values_list("address_hash", flat=True))


def record(
    action: str,
    method: str,
    *,
    address: EmailAddress | None,
    person=None,
    source: str = "",
    text: str = "",
    text_version: int | None = None,
    client: str = "",
) -> ConsentRecord:
    """Store one consent record; `person` is the Account, Contact, Lead or User it concerns,
    `client` the hashed client address (client_hash)."""
    row = ConsentRecord(
        action=action,
        method=method,
        email_address=address,
        email=address.address if address else "",
        source=source[:255],
        text=text,
        text_version=text_version,
        client_hash=client,
    )
    if person is not None:
        setattr(row, target_type_of(person), person)
    row.save()
    return row


CONSENT_BATCH = 5000


def record_for_people(
    action: str, method: str, model, ids: list[int], *, source: str = "", text: str = ""
) -> int:
    """One consent record per record of `model` (Account, Contact or Lead) in `ids`, with its
    address, in batches; how many were stored."""
    field = target_type_of(model())
    stored = 0
    for start in range(0, len(ids), CONSENT_BATCH):
        people = model.objects.filter(pk__in=ids[start : start + CONSENT_BATCH]).values_list(
            "pk", "email_address_id", "email_address__address"
        )
        rows = [
            ConsentRecord(
                action=action,
                method=method,
                email_address_id=address_id,
                email=address or "",
                source=source[:255],
                text=text,
                **{f"{field}_id": pk},
            )
            for pk, address_id, address in people
        ]
        stored += len(ConsentRecord.objects.bulk_create(rows))
    return stored
