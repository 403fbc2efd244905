"""A person's data: everything we hold about one Account, Contact or Lead, and erasing it.

`export_person` gathers the record's fields, its address and flags, list memberships, consent
records, queue items and campaign log as JSON-ready data. `erase_person` deletes the record and
what only described them (stored copies of sent mail, pending double opt-ins), blanks their
name and address in the log, queue and consent records, and keeps the address only as a hash
(SuppressedAddress), so a later import or signup form cannot add them again.
"""

from django.db import transaction
from django.db.models import Model, Q

from campaigns.models import CampaignLogRecord, EmailQueueItem, SentEmail
from crm import events, suppression
from crm.consent import address_hash
from crm.models import Account, ConsentRecord, Contact, EmailAddress, Lead, SuppressedAddress
from crm.models.people import target_type_of
from targetlists.models import TargetListEntry

PEOPLE = (Account, Contact, Lead)


def _when(value) -> str | None:
    return value.isoformat() if value else None


def _fields(person: Model) -> dict:
    data = {}
    for field in person._meta.concrete_fields:
        if field.name in ("id", "email_address"):
            continue
        value = getattr(person, field.attname)
        data[field.name] = _when(value) if hasattr(value, "isoformat") else value
    return data


def export_person(person: Model) -> dict:
    """Everything stored about `person` (an Account, Contact or Lead), JSON-serialisable."""
    kind = target_type_of(person)
    address = person.email_address
    mine = {kind: person}
    entries = TargetListEntry.objects.filter(**mine).select_related("target_list")
    items = EmailQueueItem.objects.filter(**mine).select_related("mass_email")
    log = CampaignLogRecord.objects.filter(**mine).select_related("campaign").order_by("id")
    consents = ConsentRecord.objects.filter(
        Q(**mine) | Q(email_address=address) if address else Q(**mine)
    )
    return {
        "type": kind,
        "id": person.pk,
        "fields": _fields(person),
        "email_address": None
        if address is None
        else {"address": address.address, "opted_out": address.opt_out, "invalid": address.invalid},
        "target_lists": [
            {"list": str(e.target_list), "opted_out": e.opted_out, "added_at": _when(e.added_at)}
            for e in entries
        ],
        "consent_records": [
            {
                "action": c.action,
                "how": c.method,
                "at": _when(c.at),
                "source": c.source,
                "text": c.text,
                "text_version": c.text_version,
                "client_hash": c.client_hash,
            }
            for c in consents.order_by("id")
        ],
        "emails": [
            {"mass_email": str(i.mass_email), "status": i.status, "sent_at": _when(i.sent_at)}
            for i in items.order_by("id")
        ],
        "campaign_log": [
            {
                "campaign": str(r.campaign),
                "action": r.action,
                "at": _when(r.action_date),
                "email": r.email,
                "bounce_type": r.bounce_type,
            }
            for r in log
        ],
    }


def erase_person(person: Model) -> None:
    """Erase `person` (an Account, Contact or Lead) as described above."""
    kind = target_type_of(person)
    mine = {kind: person}
    blank = {f"{kind}_id": None, "email": "", "email_address": None}
    address = person.email_address
    with transaction.atomic():
        items = EmailQueueItem.objects.filter(**mine)
        SentEmail.objects.filter(queue_item__in=items).delete()
        CampaignLogRecord.objects.filter(**mine).update(**blank)
        items.update(**blank)
        ConsentRecord.objects.filter(**mine).update(**blank)
        # Erased: the event names the record, never its address.
        data = {"person": {"type": kind, "id": person.pk}, "email": "", "via": "erasure"}
        events.record_event(events.CONTACT_DELETED, data, person=(kind, person.pk))
        person.delete()
        if address is not None:
            _suppress(address)


def _suppress(address: EmailAddress) -> None:
    SuppressedAddress.objects.get_or_create(address_hash=address_hash(address.address))
    others = any(model.objects.filter(email_address=address).exists() for model in PEOPLE)
    if others:  # another record shares the address: it stays, but receives no mass email
        chosen = EmailAddress.objects.filter(pk=address.pk)
        suppression.flag_addresses(chosen, "opted_out", via="erasure")
        return
    blank = {"email": "", "email_address": None}
    CampaignLogRecord.objects.filter(email_address=address).update(**blank)
    EmailQueueItem.objects.filter(email_address=address).update(**blank)
    ConsentRecord.objects.filter(email_address=address).update(**blank)
    address.delete()
