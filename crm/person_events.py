"""contact.created / contact.updated / contact.deleted in the event stream (crm/events.py).

The contract's names say "contact"; accounts and leads (and users) are people too and are
told of with the same types, `person.type` saying which kind it is."""

from django.db import models

from crm import events


def _data(person: models.Model, **extra) -> dict:
    address = getattr(person, "email_address", None)
    email = address.address if address is not None else getattr(person, "email", "")
    kind = person._meta.model_name
    return {
        "person": {"type": kind, "id": person.pk},
        "email": email,
        "external_id": getattr(person, "external_id", None),
        **extra,
    }


def created(person: models.Model, *, via: str) -> None:
    events.record_event(events.CONTACT_CREATED, _data(person, via=via), person=person)


def updated(person: models.Model, changed: list[str], *, via: str) -> None:
    if changed:
        data = _data(person, changed=sorted(changed), via=via)
        events.record_event(events.CONTACT_UPDATED, data, person=person)


def deleted(people: models.QuerySet | list, *, via: str) -> None:
    """Call before the delete, in its transaction: the records are read for their addresses."""
    found = [
        events.NewEvent(events.CONTACT_DELETED, _data(p, via=via), (p._meta.model_name, p.pk))
        for p in people
    ]
    events.record_events(found)
