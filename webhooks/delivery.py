"""Delivering due deliveries: claim, post signed, record the answer, schedule the retry.

Claims: the due deliveries (pending and due, or claimed by a worker whose claim expired), at
most one per person per endpoint (the oldest not yet delivered: a person's events go out in
order of creation, a later one waits behind an earlier one's retries), of enabled endpoints;
on PostgreSQL with FOR UPDATE SKIP LOCKED, so that workers share them, and marked Delivering
with a claim time in one short transaction. The posts run in threads (the answers of a slow
receiver overlap); the results are written by the claiming thread, each in its transaction.

Only a 2xx answer is success. A failure is tried again after 5 s, 5 min, 30 min, 2 h, 5 h,
10 h, 14 h, 20 h and 24 h (each ±10 %), or when the answer's Retry-After says (at most 24 h);
after the last it is Failed. 410 Gone disables the endpoint (its deliveries wait, Pending, for
it to be enabled again); so do 5 days of failures with no success, and the owner sees a notice.
"""

import email.utils
import json
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from webhooks import network, signing
from webhooks.models import ATTEMPTS_KEPT, Attempt, Delivery, Endpoint

logger = logging.getLogger(__name__)
Status = Delivery.Status
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
FAILING_LIMIT = timedelta(days=5)
LONGEST_WAIT = timedelta(hours=24)
OPEN = (Status.PENDING, Status.DELIVERING)


@dataclass
class Result:
    delivery: Delivery
    at: datetime
    answer: network.Answer | None = None
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.answer is not None and 200 <= self.answer.status < 300


def body_of(delivery: Delivery) -> str:
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)


def claim(limit: int, now: datetime | None = None) -> list[Delivery]:
    """Claim up to `limit` due deliveries (see the module) and return them."""
    now = now or timezone.now()
    earlier = Delivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        person=OuterRef("person"),
        id__lt=OuterRef("id"),
        status__in=OPEN,
    )
    due = (
        Delivery.objects.filter(
            Q(status=Status.PENDING, next_attempt_at__lte=now)
            | Q(status=Status.DELIVERING, claimed_until__lt=now),
            endpoint__enabled=True,
        )
        .filter(Q(person="") | ~Exists(earlier))
        .order_by("id")
    )
    if connection.vendor == "postgresql":
        due = due.select_for_update(skip_locked=True, of=("self",))
    hold = now + timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 30)
    with transaction.atomic():
        claimed = list(due.select_related("endpoint")[:limit])
        Delivery.objects.filter(pk__in=[d.pk for d in claimed]).update(
            status=Status.DELIVERING, claimed_until=hold
        )
    return claimed


def attempt(delivery: Delivery, now: datetime | None = None) -> Result:
    """Post `delivery` once, signed with the endpoint's secrets; never raises."""
    now = now or timezone.now()
    body = body_of(delivery)
    timestamp = int(time.time())
    endpoint = delivery.endpoint
    headers = signing.headers(endpoint.signing_secrets(now), delivery.message_id, timestamp, body)
    headers |= {"Content-Type": "application/json", "User-Agent": "massmail-webhooks/1"}
    try:
        answer = network.post(endpoint.url, body.encode(), headers)
    except network.Refused as exc:
        return Result(delivery, now, error=_("Refused: %(reason)s") % {"reason": exc})
    except Exception as exc:  # noqa: BLE001  (any failure of the exchange is the attempt's result)
        return Result(delivery, now, error=f"{type(exc).__name__}: {exc}"[:500])
    return Result(delivery, now, answer=answer)


def deliver_due(limit: int = 200) -> int:
    """Claim due deliveries, post them (in threads) and record each result; how many."""
    claimed = claim(limit)
    if not claimed:
        return 0
    workers = max(1, min(settings.WEBHOOK_CONCURRENCY, len(claimed)))
    if workers == 1:
        results = [attempt(delivery) for delivery in claimed]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(attempt, claimed))
    record(results)
    return len(results)


def record(results: list[Result]) -> None:
    """Store the results: deliveries, their attempts (one insert), the endpoints' state."""
    with transaction.atomic():
        Attempt.objects.bulk_create([_attempt_row(result) for result in results])
        for result in results:
            _record_one(result)


def _attempt_row(result: Result) -> Attempt:
    answer = result.answer
    return Attempt(
        delivery=result.delivery,
        endpoint_id=result.delivery.endpoint_id,
        at=result.at,
        status_code=answer.status if answer else None,
        duration_ms=answer.duration_ms if answer else 0,
        response=answer.body if answer else "",
        error=result.error,
        succeeded=result.succeeded,
    )


def _record_one(result: Result) -> None:
    delivery, now, answer = result.delivery, result.at, result.answer
    delivery.attempts += 1
    delivery.last_status_code = answer.status if answer else None
    delivery.last_error = result.error or ("" if result.succeeded else _http_error(answer))
    delivery.claimed_until = None
    endpoint = delivery.endpoint
    if result.succeeded:
        delivery.status, delivery.delivered_at = Status.SUCCEEDED, now
        Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=False).update(
            failing_since=None
        )
    elif answer is not None and answer.status == 410:
        delivery.status = Status.PENDING  # waits for the endpoint to be enabled again
        disable(endpoint, _("The endpoint answered 410 Gone."), now)
    else:
        _schedule_retry(delivery, answer, now)
        _note_failure(endpoint, now)
    delivery.save(
        update_fields=[
            "attempts",
            "last_status_code",
            "last_error",
            "claimed_until",
            "status",
            "delivered_at",
            "next_attempt_at",
        ]
    )


def _http_error(answer: network.Answer | None) -> str:
    return f"HTTP {answer.status}" if answer else ""


def _schedule_retry(delivery: Delivery, answer: network.Answer | None, now: datetime) -> None:
    if delivery.attempts > len(RETRY_SCHEDULE):
        delivery.status = Status.FAILED
        return
    delivery.status = Status.PENDING
    wait = retry_after(answer.retry_after, now) if answer else None
    if wait is None:
        wait = RETRY_SCHEDULE[delivery.attempts - 1] * random.uniform(0.9, 1.1)
    delivery.next_attempt_at = now + min(wait, LONGEST_WAIT)


def retry_after(value: str, now: datetime) -> timedelta | None:
    """The wait a Retry-After header asks for (seconds or an HTTP date), or None."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, timedelta(0))


def _note_failure(endpoint: Endpoint, now: datetime) -> None:
    Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    since = Endpoint.objects.filter(pk=endpoint.pk).values_list("failing_since", flat=True).first()
    if since is not None and now - since >= FAILING_LIMIT:
        disable(endpoint, _("Every delivery failed for 5 days."), now)


def disable(endpoint: Endpoint, reason: str, now: datetime) -> None:
    """Disable `endpoint` with `reason` (its owner sees it in the admin)."""
    changed = Endpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_reason=reason[:255], disabled_at=now
    )
    if changed:
        logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)


def purge(now: datetime | None = None) -> int:
    """Delete attempts and finished deliveries older than 30 days; how many rows."""
    cutoff = (now or timezone.now()) - ATTEMPTS_KEPT
    attempts, _by_model = Attempt.objects.filter(at__lt=cutoff).delete()
    finished = Delivery.objects.filter(
        status__in=[Status.SUCCEEDED, Status.FAILED], created_at__lt=cutoff
    )
    deliveries, _by_model = finished.delete()
    return attempts + deliveries
