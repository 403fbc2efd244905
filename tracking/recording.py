"""Record what a recipient's request means: one indexed read of the queue item, then writes.

Log records are inserted with ignore-conflicts semantics in one statement each; the partial
unique constraints on CampaignLogRecord (one Opened per item, one Clicked per item and link)
make repeated and concurrent hits safe without reading first.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from campaigns.models import CampaignLogRecord, EmailQueueItem, TrackingUrl
from tracking import classification, fast_path
from tracking.models import TrackingHit

Action = CampaignLogRecord.Action
Kind = TrackingHit.Kind
LINK_FIELDS = ("name", "url", "action", "message")


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
    # By primary key alone: with status in the WHERE clause the planner may pick the status index.
    try:
        item = EmailQueueItem.objects.select_related("mass_email__campaign").get(pk=item_id)
    except EmailQueueItem.DoesNotExist:
        return None
    return item if item.status == EmailQueueItem.Status.SENT else None


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
    recent = [] if kind == Kind.OPEN else classification.recent_hits(item.pk, visit.at)
    hit.reason = classification.first_reason(hit, item.sent_at, recent)
    hit.is_machine = bool(hit.reason)
    hit.save()
    if kind != Kind.OPEN:
        classification.mark_burst(hit, recent)
    return hit


@contextmanager
def hit_transaction() -> Iterator[None]:
    """A transaction for opens and clicks whose commit does not wait for the disk (PostgreSQL).

    A crash of the database server may lose the last fraction of a second of opens and clicks,
    never consistency; without it every pixel waits for a WAL flush. Opt-outs stay synchronous.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def record_open(item_id: int, visit: Visit) -> bool:
    """Record an open of a sent item; the first logs Opened. False when there is no such item."""
    if connection.vendor == "postgresql":
        reason = classification.agent_reason(visit.user_agent, Kind.OPEN)
        args = (visit.at, visit.user_agent, visit.client_hash, reason)
        return fast_path.record(Kind.OPEN, item_id, *args) is not None
    item = sent_item(item_id)
    if item is None:
        return False
    with hit_transaction():
        add_log_records([log_record(item, Action.OPENED)])
        add_hit(item, Kind.OPEN, visit)
    return True


@dataclass(frozen=True)
class Click:
    """A click on a tracking URL of a sent item, as read before it is recorded."""

    item_id: int
    link: TrackingUrl
    sent_at: datetime | None
    recent: list[tuple[str, int | None]] | None = None  # hits in the burst window, if read


def find_click(item_id: int, url_id: int, at: datetime) -> Click | None:
    """The click of `item_id` on `url_id`, in one query; None unless the item was sent and the
    link belongs to its campaign."""
    if connection.vendor == "postgresql":
        row = fast_path.read_click(item_id, url_id, classification.burst_start(at))
        if row is None or row[0] != EmailQueueItem.Status.SENT:
            return None
        link = TrackingUrl(
            pk=url_id, campaign_id=row[2], **dict(zip(LINK_FIELDS, row[3:7], strict=True))
        )
        return Click(item_id, link, row[1], row[7])
    prefix = "mass_email__campaign__tracking_urls__"
    found = EmailQueueItem.objects.filter(pk=item_id, **{f"{prefix}pk": url_id})
    row = found.values(
        "status", "sent_at", "mass_email__campaign_id", *(prefix + f for f in LINK_FIELDS)
    ).first()
    if row is None or row["status"] != EmailQueueItem.Status.SENT:
        return None
    fields = {name: row[prefix + name] for name in LINK_FIELDS}
    link = TrackingUrl(pk=url_id, campaign_id=row["mass_email__campaign_id"], **fields)
    return Click(item_id, link, row["sent_at"])


def record_click(click: Click, visit: Visit) -> bool:
    """Record a click: one Clicked per (item, link), and an Opened if there was none.

    False when the item is gone."""
    if click.recent is None:
        item = sent_item(click.item_id)
        if item is None:
            return False
        with hit_transaction():
            opened, clicked = Action.OPENED, Action.CLICKED
            add_log_records(
                [log_record(item, opened), log_record(item, clicked, tracking_url=click.link)]
            )
            add_hit(item, Kind.CLICK, visit, click.link)
        return True
    hit = TrackingHit(queue_item_id=click.item_id, kind=Kind.CLICK, tracking_url=click.link)
    hit.at, hit.user_agent = visit.at, visit.user_agent
    reason = classification.first_reason(hit, click.sent_at, click.recent)
    args = (visit.at, visit.user_agent, visit.client_hash, reason, click.link.pk)
    hit.pk = fast_path.record(Kind.CLICK, click.item_id, *args)
    if hit.pk is not None:
        classification.mark_burst(hit, click.recent)
    return hit.pk is not None


def record_trap(item: EmailQueueItem, visit: Visit) -> TrackingHit:
    """Record a hit on the hidden link: no log record, and its burst becomes a machine's."""
    with hit_transaction():
        return add_hit(item, Kind.TRAP, visit)
