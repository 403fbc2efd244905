"""Record what a recipient's request means: one indexed read of the queue item, then writes.

Log records are inserted with ignore-conflicts semantics in one statement each; the partial
unique constraints on CampaignLogRecord (one Opened per item, one Clicked per item and link)
make repeated and concurrent hits safe without reading first.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from campaigns.models import CampaignLogRecord, EmailQueueItem, TrackingUrl
from tracking import classification
from tracking.models import TrackingHit

Action = CampaignLogRecord.Action
Kind = TrackingHit.Kind


@dataclass(frozen=True)
class Visit:
    """Who asked, as far as a hit records it: no raw client address."""

    user_agent: str = ""
    client_hash: str = ""
    at: datetime = field(default_factory=timezone.now)

    @classmethod
    def from_request(cls, request: HttpRequest) -> "Visit":
        return cls(
            user_agent=request.headers.get("User-Agent", "")[:300],
            client_hash=classification.client_hash(request.META.get("REMOTE_ADDR", "")),
        )


def sent_item(item_id: int) -> EmailQueueItem | None:
    """The sent queue item with its mass email and campaign, or None."""
    return (
        EmailQueueItem.objects.select_related("mass_email__campaign")
        .filter(pk=item_id, status=EmailQueueItem.Status.SENT)
        .first()
    )


def log_record(item: EmailQueueItem, action: str, **fields) -> CampaignLogRecord:
    """An unsaved log record for `item`, with its target, address and test flag copied."""
    targets = {f"{name}_id": getattr(item, f"{name}_id") for name in item.TARGET_FIELDS}
    return CampaignLogRecord(
        campaign_id=item.mass_email.campaign_id,
        action=action,
        queue_item=item,
        email_address_id=item.email_address_id,
        email=item.email,
        is_test=item.is_test,
        **targets,
        **fields,
    )


def add_log_records(records: list[CampaignLogRecord]) -> None:
    """Insert, skipping those the unique constraints already hold (ON CONFLICT DO NOTHING)."""
    CampaignLogRecord.objects.bulk_create(records, ignore_conflicts=True)


def add_hit(
    item: EmailQueueItem, kind: str, visit: Visit, tracking_url: TrackingUrl | None = None
) -> TrackingHit:
    """Save a hit classified by the machine rules; may mark earlier hits of its burst."""
    hit = TrackingHit(
        queue_item=item,
        campaign_id=item.mass_email.campaign_id,
        is_test=item.is_test,
        kind=kind,
        tracking_url=tracking_url,
        at=visit.at,
        user_agent=visit.user_agent,
        client_hash=visit.client_hash,
    )
    hit.reason = classification.first_reason(hit, item.sent_at)
    hit.is_machine = bool(hit.reason)
    hit.save()
    if classification.mark_burst(hit):
        hit.refresh_from_db(fields=["is_machine", "reason"])
    return hit


def record_open(item_id: int, visit: Visit) -> bool:
    """Record an open of a sent item; the first logs Opened. False when there is no such item."""
    item = sent_item(item_id)
    if item is None:
        return False
    with transaction.atomic():
        add_log_records([log_record(item, Action.OPENED)])
        add_hit(item, Kind.OPEN, visit)
    return True


def record_click(item: EmailQueueItem, tracking_url: TrackingUrl, visit: Visit) -> TrackingHit:
    """Record a click: one Clicked per (item, link), and an Opened if there was none."""
    with transaction.atomic():
        add_log_records(
            [
                log_record(item, Action.OPENED),
                log_record(item, Action.CLICKED, tracking_url=tracking_url),
            ]
        )
        return add_hit(item, Kind.CLICK, visit, tracking_url)


def record_trap(item: EmailQueueItem, visit: Visit) -> TrackingHit:
    """Record a hit on the hidden link: no log record, and its burst becomes a machine's."""
    with transaction.atomic():
        return add_hit(item, Kind.TRAP, visit)
