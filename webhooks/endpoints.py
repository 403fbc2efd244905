"""What the admin and the API do to endpoints: create (the secret shown once), check, rotate
the secret, send a test event, redeliver what failed, enable again."""

import secrets as random_tokens
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from crm import events, secrets
from webhooks import delivery, fanout, network, signing
from webhooks.models import PREVIOUS_SECRET_KEPT, Delivery, Endpoint

MAX_BATCH = 1000
# Types an endpoint may ask for: every event type but the test, which each endpoint gets on
# request whatever it asked for.
SUBSCRIBABLE = tuple(t for t in events.TYPES if t != events.WEBHOOK_TEST)


class EndpointInvalid(ValueError):
    """What was given for an endpoint cannot be used; `field` says which."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def check(url: str, types: list[str], batch_size: int = 1) -> None:
    """Raise EndpointInvalid for a URL the delivery would refuse, an unknown event type or a
    batch size out of range. (The host's addresses are checked when delivering.)"""
    try:
        network.check_url(url)
    except network.Refused as exc:
        raise EndpointInvalid("url", str(exc)) from exc
    unknown = sorted(set(types) - set(SUBSCRIBABLE))
    if unknown:
        raise EndpointInvalid("events", f"Unknown event types: {', '.join(unknown)}.")
    if not 1 <= batch_size <= MAX_BATCH:
        raise EndpointInvalid("batch_size", f"Give a batch size from 1 to {MAX_BATCH}.")


def create(url: str, types: list[str], *, owner=None, **fields) -> tuple[Endpoint, str]:
    """A new endpoint and its secret (whsec_…), which is not shown again."""
    check(url, types, fields.get("batch_size", 1))
    secret = signing.new_secret()
    lists, campaigns = fields.pop("target_lists", []), fields.pop("campaigns", [])
    with transaction.atomic():
        endpoint = Endpoint.objects.create(
            url=url,
            events=list(types),
            owner=owner,
            secret_encrypted=secrets.encrypt(secret),
            **fields,
        )
        endpoint.target_lists.set(lists)
        endpoint.campaigns.set(campaigns)
    fanout.start()  # the stream is read for endpoints from now on
    return endpoint, secret


def rotate_secret(endpoint: Endpoint, now: datetime | None = None) -> str:
    """A new secret; deliveries are signed with the old one too for 24 hours."""
    now = now or timezone.now()
    secret = signing.new_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_until = now + PREVIOUS_SECRET_KEPT
    endpoint.secret_encrypted = secrets.encrypt(secret)
    endpoint.save(
        update_fields=["previous_secret_encrypted", "previous_secret_until", "secret_encrypted"]
    )
    return secret


def send_test(endpoint: Endpoint) -> delivery.Result:
    """Post a webhook.test event to `endpoint` now (retried as any delivery if it fails)."""
    now = timezone.now()
    token = random_tokens.token_hex(8)
    test = Delivery.objects.create(
        endpoint=endpoint,
        message_id=f"msg_{endpoint.pk}_test_{token}",
        event_type=events.WEBHOOK_TEST,
        payload={
            "id": f"evt_test_{token}",
            "type": events.WEBHOOK_TEST,
            "timestamp": now.isoformat(),
            "data": {"endpoint_id": endpoint.pk},
        },
        status=Delivery.Status.DELIVERING,
        claimed_until=now,
    )
    result = delivery.attempt(test, now)
    delivery.record([result])
    return result


def redeliver_failed(endpoint: Endpoint, since: datetime) -> int:
    """Deliver again the deliveries created since `since` that failed for good; how many."""
    failed = endpoint.deliveries.filter(status=Delivery.Status.FAILED, created_at__gte=since)
    return failed.update(status=Delivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now())


def enable(endpoint: Endpoint) -> None:
    Endpoint.objects.filter(pk=endpoint.pk).update(
        enabled=True, disabled_reason="", disabled_at=None, failing_since=None
    )
    endpoint.refresh_from_db()
