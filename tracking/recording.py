"""Record what a recipient's request means: one indexed read of the queue item, then writes.

Log records are inserted with ignore-conflicts semantics in one statement each; the partial
unique constraints on CampaignLogRecord (one Opened per item, one Clicked per item and link)
make repeated and concurrent hits safe without reading first.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter

from django.db import connection, transaction
from django.db.models import Max
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone
from kombu import exceptions as kombu_errors

from campaigns.models import CampaignLogRecord, EmailQueueItem, TrackingUrl
from campaigns.results.events import item_event
from crm import events
from crm.celery import run_task
from tracking import classification, fast_path
from tracking.models import TrackingHit

Action = CampaignLogRecord.Action
Kind = TrackingHit.Kind
logger = logging.getLogger(__name__)
LINK_FIELDS = ("name", "url", "action", "message")
LINK_CACHE_SECONDS = 5
# Hits recorded one by one (no Redis buffer) ask for the results' tail to be counted at most
# this often per process (count_tail_soon).
TAIL_COUNT_SECONDS = 5.0


CONTROL_CODES = dict.fromkeys([*range(32), 127])


@dataclass(frozen=True)
class Visit:
    """Who asked, as far as a hit records it: no raw client address."""

    user_agent: str = ""
    client_hash: str = ""
    at: datetime = field(default_factory=timezone.now)

    @classmethod
    def from_request(cls, request: HttpRequest) -> "Visit":
        return cls(
            # NUL cannot be stored in PostgreSQL text, and no real browser sends control codes.
            user_agent=request.META.get("HTTP_USER_AGENT", "").translate(CONTROL_CODES)[:300],
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


def event_of(type: str, item: EmailQueueItem, **data) -> events.NewEvent:
    """The stream's event `type` for a queue item (with its mass email loaded)."""
    campaign_id = item.mass_email.campaign_id
    return item_event(type, item, mass_email_id=item.mass_email_id, campaign_id=campaign_id, **data)


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
        classification.mark_burst(hit, burst=classification.is_burst(hit, recent))
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


_tail_count_asked = [float("-inf")]


def count_tail_soon() -> None:
    """Ask a worker to count the new whole blocks of hits and log rows for the results pages
    (campaigns.results.counters.count_tail), at most once every TAIL_COUNT_SECONDS in this
    process. Buffered hits have it done after each batch; hits recorded one by one would
    otherwise wait for the Update Results job (a minute), and a page view in between would
    count a minute's burst itself. A broker that is down costs the hit nothing: logged."""
    now = time.monotonic()
    if now - _tail_count_asked[0] < TAIL_COUNT_SECONDS:
        return
    _tail_count_asked[0] = now
    try:
        run_task("tracking.tasks.count_results_tail", expires=60, retry=False)
    except (OSError, kombu_errors.OperationalError):
        logger.warning("could not ask for the results' tail to be counted", exc_info=True)


def record_open(item_id: int, visit: Visit) -> bool:
    """Record an open of a sent item; the first logs Opened. False when there is no such item."""
    reason = classification.agent_reason(visit.user_agent, Kind.OPEN)
    if connection.vendor == "postgresql":
        return fast_path.record_open(item_id, visit, reason)
    item = sent_item(item_id)
    if item is None:
        return False
    with hit_transaction():
        first = _first(item, [(Action.OPENED, None)])
        add_log_records([log_record(item, Action.OPENED)])
        hit = add_hit(item, Kind.OPEN, visit)
        _record_hit_events(item, first, hit)
    return True


def _first(item: EmailQueueItem, keys: list[tuple[str, int | None]]) -> list[tuple]:
    """Of the (action, tracking URL id) log rows about to be written for `item`, those it
    has not yet (the ORM path runs on SQLite, one writer at a time: no race between)."""
    held = set(
        CampaignLogRecord.objects.filter(
            queue_item=item, action__in=[a for a, _url in keys]
        ).values_list("action", "tracking_url_id")
    )
    return [key for key in keys if key not in held]


def _record_hit_events(
    item: EmailQueueItem, first: list[tuple], hit: TrackingHit, person_first: bool = False
) -> None:
    """email.opened / email.clicked for the log rows `first` wrote, with the hit's verdict;
    with `person_first` (the hit is the link's first click judged a person's), its
    email.clicked says human true."""
    if item.is_test:
        return
    found = []
    for action, _url_id in first:
        if action == Action.OPENED:
            found.append(event_of(events.EMAIL_OPENED, item, human=not hit.is_machine))
        elif hit.is_machine:  # a person's is told of below
            found.append(_clicked(item, hit))
    if person_first:
        found.append(_clicked(item, hit))
    events.record_events(found)


def _clicked(item: EmailQueueItem, hit: TrackingHit) -> events.NewEvent:
    url = hit.tracking_url.url if hit.tracking_url else ""
    data = {"human": not hit.is_machine, "tracking_url_id": hit.tracking_url_id, "url": url}
    return event_of(events.EMAIL_CLICKED, item, **data)


def _mark_person_clicked(keys: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Of the (item id, tracking URL id) pairs a person's click came to, those whose Clicked
    record had none yet, now marked (`person_clicked`): the ones to tell the stream of. A
    scanner's click often comes first, and its event says human false; the person's must
    still reach the automations. The rows are locked as they are read, so a concurrent click
    of the same pair waits and then finds it marked: each is told of once."""
    if not keys:
        return set()
    unmarked = CampaignLogRecord.objects.filter(
        action=Action.CLICKED,
        person_clicked=False,
        queue_item_id__any_of={item_id for item_id, _url_id in keys},
        tracking_url_id__any_of={url_id for _item_id, url_id in keys},
    )
    rows = (
        unmarked.select_for_update()
        .order_by("pk")
        .values_list("pk", "queue_item_id", "tracking_url_id")
    )
    marked = {pk: (item_id, url_id) for pk, item_id, url_id in rows if (item_id, url_id) in keys}
    CampaignLogRecord.objects.filter(pk__any_of=list(marked)).update(person_clicked=True)
    return set(marked.values())


def _link(url_id: int, campaign_id: int, fields) -> TrackingUrl:
    return TrackingUrl(
        pk=url_id, campaign_id=campaign_id, **dict(zip(LINK_FIELDS, fields, strict=True))
    )


def find_link(item_id: int, url_id: int) -> TrackingUrl | None:
    """The tracking URL `url_id` if it belongs to the campaign of the sent item `item_id` (and,
    to redirect, has a web address), in one query; None otherwise."""
    if connection.vendor == "postgresql":
        row = fast_path.read_click(item_id, url_id)
        sent = row is not None and row[0] == EmailQueueItem.Status.SENT
        return _link(url_id, row[2], row[3:7]) if sent else None
    prefix = "mass_email__campaign__tracking_urls__"
    found = EmailQueueItem.objects.filter(pk=item_id, **{f"{prefix}pk": url_id})
    columns = ("status", "mass_email__campaign_id", *(prefix + f for f in LINK_FIELDS))
    row = found.values_list(*columns).first()
    if row is None or row[0] != EmailQueueItem.Status.SENT:
        return None
    link = _link(url_id, row[1], row[2:])
    redirects = link.action == TrackingUrl.Action.REDIRECT
    return None if redirects and not link.url.startswith(("https://", "http://")) else link


def record_click(item_id: int, url_id: int, visit: Visit) -> TrackingUrl | None:
    """Record a click: one Clicked per (item, link), and an Opened if there was none.

    Returns the link, or None as `find_link` does (then nothing is recorded)."""
    reason = classification.agent_reason(visit.user_agent, Kind.CLICK)
    if connection.vendor == "postgresql":
        row = fast_path.record_click(item_id, url_id, visit, reason)
        if row is None or row[7] is None:
            return None
        hit = TrackingHit(queue_item_id=item_id, kind=Kind.CLICK, at=visit.at)
        classification.mark_burst(hit, burst=row[9])
        return _link(url_id, row[2], row[3:7])
    link = find_link(item_id, url_id)
    item = sent_item(item_id) if link else None
    if item is None:
        return None
    with hit_transaction():
        opened, clicked = Action.OPENED, Action.CLICKED
        first = _first(item, [(opened, None), (clicked, link.pk)])
        add_log_records([log_record(item, opened), log_record(item, clicked, tracking_url=link)])
        hit = add_hit(item, Kind.CLICK, visit, link)
        person_first = not hit.is_machine and bool(_mark_person_clicked({(item.pk, link.pk)}))
        _record_hit_events(item, first, hit, person_first)
    return link


def _web_address_ok(link: TrackingUrl) -> bool:
    redirects = link.action == TrackingUrl.Action.REDIRECT
    return not redirects or link.url.startswith(("https://", "http://"))


_links: dict[int, tuple[float, TrackingUrl | None]] = {}


def cached_link(url_id: int) -> TrackingUrl | None:
    """The tracking URL `url_id` (None if missing, or a redirect without a web address), read
    at most once per LINK_CACHE_SECONDS per process. The click token is signed over (item,
    link) only for links of the item's campaign, so the signature attests the pairing."""
    now = time.monotonic()
    expires, link = _links.get(url_id, (0.0, None))
    if expires > now:
        return link
    link = TrackingUrl.objects.filter(pk=url_id).only("campaign_id", *LINK_FIELDS).first()
    if link is not None and not _web_address_ok(link):
        link = None
    if len(_links) > 10_000:
        _links.clear()
    _links[url_id] = (now + LINK_CACHE_SECONDS, link)
    return link


@receiver([post_save, post_delete], sender=TrackingUrl, dispatch_uid="tracking.forget_link")
def _forget_link(sender, instance: TrackingUrl, **kwargs) -> None:
    # Other processes see a change within LINK_CACHE_SECONDS; this one at once.
    _links.pop(instance.pk, None)


def record_trap(item: EmailQueueItem, visit: Visit) -> TrackingHit:
    """Record a hit on the hidden link: no log record, and its burst becomes a machine's."""
    with hit_transaction():
        return add_hit(item, Kind.TRAP, visit)


BufferedHit = tuple[str, int, int | None, Visit]  # kind, item id, tracking URL id, visit
ITEM_COLUMNS = ("id", "status", "sent_at", "is_test", "email", "email_address_id")
_targets = attrgetter(*fast_path.TARGETS)  # an item row's targets, in LOG_COLUMNS order


def _sent_items(ids: set[int]) -> dict[int, tuple]:
    """Named rows (not model instances: a batch reads many) of the sent items among `ids`."""
    targets = (f"{name}_id" for name in EmailQueueItem.TARGET_FIELDS)
    columns = (*ITEM_COLUMNS, *targets, "mass_email__campaign_id", "mass_email_id")
    # By primary key alone, as sent_item: with the status in the WHERE the planner may scan.
    rows = EmailQueueItem.objects.filter(pk__any_of=ids).values_list(*columns, named=True)
    return {row.id: row for row in rows if row.status == EmailQueueItem.Status.SENT}


def _accepted(hits: Sequence[BufferedHit]) -> list[tuple[BufferedHit, tuple]]:
    """In time order, the hits of sent items (clicks: of a link of the item's campaign), each
    with its item's row."""
    items = _sent_items({h[1] for h in hits})
    links = TrackingUrl.objects.in_bulk({h[2] for h in hits if h[2]})
    accepted = []
    for hit in sorted(hits, key=lambda h: h[3].at):
        item, link = items.get(hit[1]), links.get(hit[2])
        if item is None:
            continue
        if hit[0] == Kind.CLICK and (
            link is None
            or link.campaign_id != item.mass_email__campaign_id
            or not _web_address_ok(link)
        ):
            continue
        accepted.append((hit, item))
    return accepted


# The kinds of earlier hits the rules look at: a hidden-link hit, and clicks for a burst.
RULE_KINDS = (Kind.CLICK, Kind.TRAP)


def _recorded_hits(accepted: list) -> dict[int, dict[tuple[str, int | None], datetime]]:
    """Per clicked item: the latest `at` of each (kind, tracking URL id) among its recorded
    clicks and hidden-link hits in the batch's burst windows. The rules ask only whether the
    item has such a hit in a window, which the latest one answers."""
    clicked = {item.id for hit, item in accepted if hit[0] == Kind.CLICK}
    found = defaultdict(dict)
    if clicked:
        since = classification.burst_start(min(hit[3].at for hit, _item in accepted))
        recorded = TrackingHit.objects.filter(
            queue_item_id__any_of=clicked, kind__in=RULE_KINDS, at__gte=since
        )
        latest = recorded.order_by().values_list("queue_item_id", "kind", "tracking_url_id")
        for item_id, kind, url_id, at in latest.annotate(Max("at")):
            found[item_id][kind, url_id] = at
    return found


def _log_row(item: tuple, action: str, url_id: int | None = None) -> tuple:
    """A log record's values in fast_path.LOG_COLUMNS order, as log_record sets them."""
    copied = (*_targets(item), item.email_address_id, item.email, item.is_test)
    return (item.mass_email__campaign_id, action, item.id, url_id, *copied)


def _batch_hit(hit: BufferedHit, item: tuple, seen: dict) -> tuple[tuple, bool]:
    """The hit's values in fast_path.HIT_COLUMNS order, classified as add_hit does given the
    latest `at` of each (kind, tracking URL id) the rules look at among the item's hits so far
    (`seen`, which it updates); and whether it makes a burst."""
    kind, item_id, url_id, visit = hit
    url_id = url_id if kind == Kind.CLICK else None
    recent = []
    if kind != Kind.OPEN:
        start = classification.burst_start(visit.at)
        recent = [key for key, at in seen.items() if at >= start]
    agent, at = visit.user_agent, visit.at
    reason = classification.reason_for(kind, agent, at, url_id, item.sent_at, recent)
    if kind in RULE_KINDS:
        latest = seen.get((kind, url_id))
        seen[kind, url_id] = at if latest is None else max(latest, at)
    campaign_id = item.mass_email__campaign_id
    row = (item_id, campaign_id, item.is_test, kind, url_id, at, agent, visit.client_hash)
    burst = kind != Kind.OPEN and classification.clicks_burst(kind, url_id, recent)
    return (*row, bool(reason), reason), burst


LogKey = tuple[str, int, int | None]  # action, item id, tracking URL id


def _log_rows(accepted: list, hit_rows: list[tuple]) -> dict[LogKey, tuple]:
    """One Opened per item and one Clicked per item and link of the batch: each key with its
    log row, its item and the human verdict of the hit that made it."""
    log = {}
    for ((kind, item_id, url_id, visit), item), hit_row in zip(accepted, hit_rows, strict=True):
        human = not hit_row[8]
        if (Action.OPENED, item_id, None) not in log:
            log[Action.OPENED, item_id, None] = (_log_row(item, Action.OPENED), item, human, visit)
        if kind == Kind.CLICK and (Action.CLICKED, item_id, url_id) not in log:
            row = _log_row(item, Action.CLICKED, url_id)
            log[Action.CLICKED, item_id, url_id] = (row, item, human, visit)
    return log


def _insert_batch(log_rows: list[tuple], hit_rows: list[tuple]) -> set[LogKey]:
    """Insert log records (skipping those already held) and hits from their value tuples;
    the keys of the log records written."""
    if connection.vendor == "postgresql":
        return fast_path.insert_batch(log_rows, hit_rows)
    log_columns, hit_columns = fast_path.LOG_COLUMNS, fast_path.HIT_COLUMNS
    logs = [CampaignLogRecord(**dict(zip(log_columns, row, strict=True))) for row in log_rows]
    held = set(  # SQLite: one writer at a time, so what is not held now is written below
        CampaignLogRecord.objects.filter(
            queue_item_id__in={log.queue_item_id for log in logs},
            action__in=(Action.OPENED, Action.CLICKED),
        ).values_list("action", "queue_item_id", "tracking_url_id")
    )
    add_log_records(logs)
    hits = [TrackingHit(**dict(zip(hit_columns, row, strict=True))) for row in hit_rows]
    TrackingHit.objects.bulk_create(hits)
    return {(log.action, log.queue_item_id, log.tracking_url_id) for log in logs} - held


def _person_clicks(accepted: list, hit_rows: list[tuple]) -> dict[tuple[int, int], tuple]:
    """(item id, tracking URL id) → (item row, visit) of the batch's first click of each link
    judged a person's (hit_rows are in the order of `accepted`, by time)."""
    found = {}
    for ((kind, item_id, url_id, visit), item), hit_row in zip(accepted, hit_rows, strict=True):
        if kind == Kind.CLICK and not hit_row[8]:
            found.setdefault((item_id, url_id), (item, visit))
    return found


def _batch_events(
    log: dict[LogKey, tuple], written: set[LogKey], person_first: dict[tuple[int, int], tuple]
) -> list[events.NewEvent]:
    """email.opened / email.clicked for each log record the batch wrote, with its first hit's
    verdict, and email.clicked (human) for each link's first person's click
    (`person_first`: (item id, tracking URL id) → (item row, visit)); not for test sends."""
    told = []  # (visit, action, item row, tracking URL id, human)
    for action, item_id, url_id in written:
        _row, item, human, visit = log[action, item_id, url_id]
        if action == Action.OPENED or not human:  # a person's first click is told of below
            told.append((visit, action, item, url_id, human))
    for (_item_id, url_id), (item, visit) in person_first.items():
        told.append((visit, Action.CLICKED, item, url_id, True))
    linked = {entry[3] for entry in told if entry[3]}
    urls = dict(TrackingUrl.objects.filter(pk__in=linked).values_list("pk", "url"))
    found = []
    told.sort(key=lambda entry: (entry[0].at, entry[1] != Action.OPENED))
    for visit, action, item, url_id, human in told:
        if item.is_test:
            continue
        data = {"human": human}
        if action == Action.CLICKED:
            data |= {"tracking_url_id": url_id, "url": urls.get(url_id, "")}
        type = events.EMAIL_OPENED if action == Action.OPENED else events.EMAIL_CLICKED
        new = item_event(
            type,
            item,
            mass_email_id=item.mass_email_id,
            campaign_id=item.mass_email__campaign_id,
            **data,
        )
        found.append(events.NewEvent(new.type, new.data, new.person, visit.at))
    return found


def record_batch(hits: Sequence[BufferedHit]) -> int:
    """Record buffered opens and clicks in one transaction, with the log records and verdicts
    the synchronous path gives them one by one; returns how many hits it saved. Hits of items
    not sent, and clicks of links not of the item's campaign, are dropped."""
    accepted = _accepted(hits)
    if not accepted:
        return 0
    seen = _recorded_hits(accepted)
    rows, bursts = [], []
    for hit, item in accepted:
        row, burst = _batch_hit(hit, item, seen[item.id])
        rows.append(row)
        if burst:
            bursts.append(TrackingHit(queue_item_id=row[0], kind=row[3], at=row[5]))
    with hit_transaction():
        log = _log_rows(accepted, rows)
        written = _insert_batch([entry[0] for entry in log.values()], rows)
        person_clicks = _person_clicks(accepted, rows)
        marked = _mark_person_clicked(set(person_clicks))
        person_first = {key: person_clicks[key] for key in marked}
        events.record_events(_batch_events(log, written, person_first))
        for hit in bursts:
            classification.mark_burst(hit, burst=True)
        since = min(hit[3].at for hit, _item in accepted)
        items = {item.id for _hit, item in accepted}
        classification.mark_before_traps(items, since)
    return len(rows)
