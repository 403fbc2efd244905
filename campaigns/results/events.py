"""The events of a queue item for the one event stream (crm/events.py): what a receiver needs
to know who it was, which mass email and campaign, without asking back."""

from campaigns.models import EmailQueueItem
from crm.events import NewEvent, record_rows
from crm.models.people import TargetFields
from crm.value_lists import BIGINT, any_of

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


def record_item_events(type: str, item_ids: list[int], **constants) -> int:
    """One `type` event per queue item of `item_ids`, with the payload item_event gives (its
    `constants`: the mass email's and campaign's ids), copied from the items' rows in one
    INSERT … SELECT whatever their number: a chunk's events cost one statement."""
    if not item_ids:
        return 0
    table = EmailQueueItem._meta.db_table
    kind = " ".join(f"WHEN q.{name}_id IS NOT NULL THEN '{name}'" for name in TARGETS)
    person_id = ", ".join(f"q.{name}_id" for name in TARGETS)
    chosen, params = any_of("q.id", item_ids, BIGINT)
    select = (
        f"SELECT q.id, q.email, CASE {kind} END AS person_type, "
        f"COALESCE({person_id}) AS person_id FROM {table} q WHERE {chosen} ORDER BY q.id"
    )
    data = {"queue_item_id": "src.id", "email": "src.email"}
    return record_rows(type, select, params, data=data, constants=constants)
