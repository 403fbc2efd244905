"""The consumer `webhooks` of the event stream: each event, once, becomes a Delivery for
every enabled endpoint that asks for it, in the same transaction that moves the consumer's
position (crm.events.take), with one insert for all of them."""

from django.utils import timezone

from crm import events
from crm.models import Event
from webhooks.models import Delivery, Endpoint

CONSUMER = "webhooks"
TAKE = 2000
BATCHED = "batch"  # the payload type of a delivery of several email events


def payload_of(event: Event) -> dict:
    return {
        "id": f"evt_{event.pk}",
        "type": event.type,
        "timestamp": event.occurred_at.isoformat(),
        "data": event.data,
    }


def _person(event: Event) -> str:
    return f"{event.person_type}:{event.person_id}" if event.person_id is not None else ""


class _Target:
    """An endpoint as the fan-out asks it: which events it wants."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self.types = set(endpoint.events)
        self.lists = {target.pk for target in endpoint.target_lists.all()}
        self.campaigns = {campaign.pk for campaign in endpoint.campaigns.all()}

    def wants(self, event: Event) -> bool:
        if self.types and event.type not in self.types:
            return False
        if event.occurred_at < self.endpoint.created_at:
            return False
        if not self.lists and not self.campaigns:
            return True
        data = event.data
        lists = set(data.get("list_ids") or []) | {data.get("list_id")}
        return bool(self.lists & lists) or data.get("campaign_id") in self.campaigns


def start() -> None:
    """Have the consumer read from here on (a no-op once it has a position)."""
    events.start(CONSUMER)


def fan_out(limit: int = TAKE) -> int:
    """Turn the next events into deliveries; how many events were taken (0: none, or another
    worker is at it)."""
    return events.take(CONSUMER, _deliveries_for, limit=limit)


def _deliveries_for(taken: list[Event]) -> None:
    endpoints = Endpoint.objects.filter(enabled=True).prefetch_related("target_lists", "campaigns")
    targets = [_Target(endpoint) for endpoint in endpoints]
    rows = []
    now = timezone.now()
    for target in targets:
        wanted = [event for event in taken if target.wants(event)]
        size = target.endpoint.batch_size
        single = [e for e in wanted if size <= 1 or not e.type.startswith("email.")]
        batched = [e for e in wanted if size > 1 and e.type.startswith("email.")]
        rows += [_single(target.endpoint, event, now) for event in single]
        for start in range(0, len(batched), size):
            rows.append(_batch(target.endpoint, batched[start : start + size], now))
    rows.sort(key=lambda row: row.event_ids[0])  # creation order is the events' order
    Delivery.objects.bulk_create(rows)


def _single(endpoint: Endpoint, event: Event, now) -> Delivery:
    return Delivery(
        endpoint=endpoint,
        message_id=f"msg_{endpoint.pk}_{event.pk}",
        event_type=event.type,
        event_ids=[event.pk],
        payload=payload_of(event),
        person=_person(event),
        next_attempt_at=now,
        created_at=now,
    )


def _batch(endpoint: Endpoint, batch: list[Event], now) -> Delivery:
    # Batches of an endpoint go out one after the other, in order ("person" BATCHED).
    return Delivery(
        endpoint=endpoint,
        message_id=f"msg_{endpoint.pk}_{batch[0].pk}_{batch[-1].pk}",
        event_type=BATCHED,
        event_ids=[event.pk for event in batch],
        payload={
            "type": BATCHED,
            "timestamp": now.isoformat(),
            "data": {"events": [payload_of(event) for event in batch]},
        },
        person=BATCHED,
        next_attempt_at=now,
        created_at=now,
    )
