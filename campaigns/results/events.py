"""The events of a queue item for the one event stream (crm/events.py): what a receiver needs
to know who it was, which mass email and campaign, without asking back."""

from crm.events import NewEvent
from crm.models.people import TargetFields

TARGETS = TargetFields.TARGET_FIELDS


def person_of(item) -> tuple[str, int] | None:
    """(type, id) of the item's person, from an EmailQueueItem or a row with `<target>_id`."""
    for name in TARGETS:
        target_id = getattr(item, f"{name}_id", None)
        if target_id:
            return (name, target_id)
    return None


def item_event(type: str, item, *, mass_email_id: int, campaign_id: int, **data) -> NewEvent:
    """A NewEvent for `item` (a queue item or a named row with id, email, targets)."""
    person = person_of(item)
    payload = {
        "queue_item_id": item.id,
        "email": item.email,
        "mass_email_id": mass_email_id,
        "campaign_id": campaign_id,
        "person": {"type": person[0], "id": person[1]} if person else None,
        **data,
    }
    return NewEvent(type, payload, person)
