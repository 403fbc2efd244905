"""Rules that tell a machine's hit from a person's. Documented here, applied by tracking.recording.

Mail privacy proxies fetch every image at delivery and security scanners follow every link within
seconds, so raw figures overstate interest. A hit is a machine's when:

1. Its user agent names a prefetching proxy (opens only): Apple Mail Privacy Protection fetches
   with the bare agent ``Mozilla/5.0`` at delivery. Gmail's GoogleImageProxy fetches when the
   message is opened, so it counts as a person.
2. Its user agent names a security scanner product (Mimecast, Proofpoint, Barracuda, …), or an
   automation tool or crawler (curl, python-requests, bots, headless browsers), or is empty.
3. It is a click less than ``TOO_SOON_SECONDS`` after the item was sent.
4. The same item hit the hidden link (the honeypot, a click on tracking URL id 0, which no person
   sees) within ``BURST_SECONDS``: the trap hit marks every hit of that item in the window before
   it, and clicks and opt-outs in the window after it are marked too (opens after it are not
   looked up, to keep the pixel one statement).
5. ``BURST_LINKS`` or more different links of one item were clicked within ``BURST_SECONDS``:
   all of those clicks are marked.

A machine hit still writes the Opened/Clicked log record (EspoCRM's totals). The rules only
decide which opens and clicks count as a person's: an unsubscribe (the opt-out page's POST with
its CSRF token, or an RFC 8058 one-click POST) always unsubscribes, and its hit is classified for
the reports alone. A one-click POST is sent by the mailbox provider on the person's behalf,
often from a plain HTTP library, so only rules 2 (scanner products only) and 4 mark it.

On PostgreSQL the click's verdict (rules 3 to 5) is computed in SQL by tracking.fast_path, in
the same statement that records it; the tests run on both databases, so both agree. Hits
buffered in Redis (tracking.buffer) get the same verdicts when their batch is recorded
(tracking.recording.record_batch), in the order they came in.
"""

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db.models import Count, Q

from tracking.models import TrackingHit

TOO_SOON_SECONDS = 10
BURST_SECONDS = 5
BURST_LINKS = 2
HONEYPOT_URL_ID = 0

Reason = TrackingHit.Reason

PROXY_AGENTS = frozenset({"mozilla/5.0"})
SCANNER_PRODUCTS = (
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "trendmicro",
    "trend micro",
    "fireeye",
    "sophos",
    "forcepoint",
    "ironport",
    "zscaler",
    "paloalto",
    "checkpoint",
    "safelinks",
    "bingpreview",
)
AUTOMATION_MARKERS = (
    "bot/",
    "bot;",
    "bot)",
    "crawler",
    "spider",
    "headlesschrome",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww-perl",
    "scrapy",
    "httpclient",
)


@lru_cache(maxsize=4)
def _client_key(secret: str) -> bytes:
    return hashlib.sha256(f"massmail.client:{secret}".encode()).digest()


def client_hash(address: str) -> str:
    """A keyed hash of the client's IP address: lets hits be grouped without storing the IP."""
    if not address:
        return ""
    key = _client_key(settings.SECRET_KEY)
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:32]


@lru_cache(maxsize=1024)  # a pure function; a batch of hits repeats few user agents
def agent_reason(user_agent: str, kind: str) -> str:
    """Why the user agent alone marks a hit of `kind` as a machine's; '' for a person."""
    agent = user_agent.strip().lower()
    if kind == TrackingHit.Kind.ONE_CLICK:
        return Reason.SCANNER if any(m in agent for m in SCANNER_PRODUCTS) else Reason.HUMAN
    if not agent:
        return Reason.SCANNER
    if kind == TrackingHit.Kind.OPEN and agent in PROXY_AGENTS:
        return Reason.PROXY
    if any(marker in agent for marker in SCANNER_PRODUCTS + AUTOMATION_MARKERS):
        return Reason.SCANNER
    return Reason.HUMAN


def burst_start(at: datetime) -> datetime:
    return at - timedelta(seconds=BURST_SECONDS)


def recent_hits(item_id: int, at: datetime) -> list[tuple[str, int | None]]:
    """(kind, tracking URL id) of the item's hits in the burst window before `at`."""
    found = TrackingHit.objects.filter(queue_item_id=item_id, at__gte=burst_start(at))
    return list(found.order_by().values_list("kind", "tracking_url_id"))


def is_burst(hit: TrackingHit, recent: list[tuple[str, int | None]]) -> bool:
    """Whether `hit` makes BURST_LINKS or more different links of its item clicked in the window."""
    return clicks_burst(hit.kind, hit.tracking_url_id, recent)


def clicks_burst(kind: str, url_id: int | None, recent: list[tuple[str, int | None]]) -> bool:
    """is_burst, from a hit's kind and tracking URL id (a batch builds no model instances)."""
    if kind != TrackingHit.Kind.CLICK:
        return False
    links = {url for seen, url in recent if seen == TrackingHit.Kind.CLICK}
    return len(links | {url_id}) >= BURST_LINKS


def first_reason(hit: TrackingHit, sent_at: datetime | None, recent: list) -> str:
    """The reason a new hit is a machine's ('' for a person's), given the item's `recent` hits.

    Opens are not checked against recent hits (the pixel stays one statement); a later
    hidden-link hit still marks them.
    """
    return reason_for(hit.kind, hit.user_agent, hit.at, hit.tracking_url_id, sent_at, recent)


def reason_for(
    kind: str, user_agent: str, at: datetime, url_id: int | None, sent_at, recent: list
) -> str:
    """first_reason, from a hit's column values (a batch builds no model instances)."""
    if kind == TrackingHit.Kind.TRAP:
        return Reason.TRAP
    reason = agent_reason(user_agent, kind)
    if reason or kind == TrackingHit.Kind.OPEN:
        return reason
    too_soon = sent_at and at - sent_at < timedelta(seconds=TOO_SOON_SECONDS)
    if kind == TrackingHit.Kind.CLICK and too_soon:
        return Reason.TOO_SOON
    if any(seen == TrackingHit.Kind.TRAP for seen, _url in recent):
        return Reason.TRAP
    return Reason.BURST if clicks_burst(kind, url_id, recent) else Reason.HUMAN


def mark_burst(hit: TrackingHit, burst: bool) -> int:
    """After saving `hit`, mark the earlier hits of its burst as a machine's; returns how many.

    A hidden-link hit marks every hit of its item in the window; a `burst` of clicks marks the
    item's clicks in the window."""
    if hit.kind != TrackingHit.Kind.TRAP and not burst:
        return 0
    window = TrackingHit.objects.filter(
        queue_item_id=hit.queue_item_id,
        at__gte=burst_start(hit.at),
        at__lte=hit.at,
        is_machine=False,
    )
    if hit.kind == TrackingHit.Kind.TRAP:
        return window.update(is_machine=True, reason=Reason.TRAP)
    clicks = window.filter(kind=TrackingHit.Kind.CLICK)
    return clicks.update(is_machine=True, reason=Reason.BURST)


def mark_before_traps(item_ids: Iterable[int], since: datetime) -> int:
    """Let the hidden-link hits of `item_ids` at or after `since` mark the hits of their
    window again: a buffered batch may bring hits older than a hidden-link hit already
    recorded."""
    traps = TrackingHit.objects.filter(
        queue_item_id__any_of=item_ids, kind=TrackingHit.Kind.TRAP, at__gte=since
    ).only("queue_item_id", "kind", "at")
    return sum(mark_burst(trap, burst=False) for trap in traps)


def human_figures(campaign) -> dict[str, int]:
    """Distinct non-test recipients with a person's open (a click counts) or click."""
    human = TrackingHit.objects.filter(campaign=campaign, is_test=False, is_machine=False)
    opened_kinds = [TrackingHit.Kind.OPEN, TrackingHit.Kind.CLICK]
    return human.aggregate(
        opened=Count("queue_item", distinct=True, filter=Q(kind__in=opened_kinds)),
        clicked=Count("queue_item", distinct=True, filter=Q(kind=TrackingHit.Kind.CLICK)),
    )
