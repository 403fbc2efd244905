"""Webhook delivery as a receiver sees it: every request checked with the `standardwebhooks`
package by a real HTTP server on 127.0.0.1."""

from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crm import events
from tests.factories import TargetListFactory
from tests.webhooks.receiver import Receiver, Reply, body_json
from webhooks import delivery, endpoints, fanout, running
from webhooks.models import Attempt, Delivery, Endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def contact_event(n: int, person: int = 1, type: str = events.CONTACT_UPDATED) -> None:
    events.record_event(type, {"n": n}, person=("contact", person))


def verifies(secret: str, received) -> bool:
    try:
        Webhook(secret).verify(received.body, received.headers)
    except WebhookVerificationError:
        return False
    return True


def deliver_all() -> None:
    """Fan out what is new, then deliver until nothing is due (what failed waits its turn)."""
    fanout.fan_out()
    while delivery.deliver_due():
        pass


def make_due() -> None:
    """The clock moved on to the next attempt of every pending delivery."""
    Delivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())


def test_every_delivery_is_signed_so_that_standardwebhooks_verifies_it(receiver, endpoint):
    contact_event(1)
    events.record_event(events.EMAIL_SENT, {"email": "a@example.com"}, person=("contact", 2))

    deliver_all()

    assert [r.verified for r in receiver.received] == [True, True]
    by_type = {p["type"]: p for p in receiver.payloads}  # two people: sent side by side
    first = by_type["contact.updated"]
    assert first["data"] == {"n": 1}
    assert first["id"].startswith("evt_") and "timestamp" in first
    assert by_type["email.sent"]["data"] == {"email": "a@example.com"}
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert ids == set(Delivery.objects.values_list("message_id", flat=True))
    assert receiver.received[0].headers["content-type"] == "application/json"
    assert Delivery.objects.filter(status="succeeded").count() == 2
    assert Attempt.objects.filter(succeeded=True, status_code=204).count() == 2


def test_a_tampered_body_or_another_secret_does_not_verify(receiver, endpoint):
    contact_event(1)
    deliver_all()
    received = receiver.received[0]

    assert verifies(receiver.secret, received)
    assert not verifies(receiver.secret, received._replace_body(b'{"n": 2}'))
    assert not verifies(endpoints.signing.new_secret(), received)


def test_an_endpoint_gets_only_the_types_and_lists_it_asks_for(receiver):
    wanted = TargetListFactory()
    other = TargetListFactory()
    endpoint, secret = endpoints.create(
        receiver.url, [events.LIST_MEMBER_ADDED], target_lists=[wanted]
    )
    receiver.secret = secret
    contact_event(1)
    for list_id in (wanted.pk, other.pk):
        events.record_event(events.LIST_MEMBER_ADDED, {"list_id": list_id}, person=("contact", 1))

    deliver_all()

    assert [p["data"] for p in receiver.payloads] == [{"list_id": wanted.pk}]
    assert endpoint.deliveries.count() == 1


def test_email_events_are_batched_when_the_endpoint_asks(receiver):
    endpoint, receiver.secret = endpoints.create(receiver.url, [], batch_size=3)
    for n in range(7):
        events.record_event(events.EMAIL_SENT, {"n": n}, person=("contact", n))
    contact_event(99)

    deliver_all()

    payloads = receiver.payloads
    batches = [p for p in payloads if p["type"] == "batch"]
    assert [len(b["data"]["events"]) for b in batches] == [3, 3, 1]
    assert [e["data"]["n"] for e in receiver.events() if e["type"] == "email.sent"] == list(
        range(7)
    )
    assert [p["type"] for p in payloads if p["type"] != "batch"] == ["contact.updated"]
    assert all(r.verified for r in receiver.received)


def test_a_failure_is_retried_when_retry_after_says_and_only_2xx_succeeds(receiver, endpoint):
    replies = iter(
        [
            Reply(503, {"Retry-After": "120"}, b"busy, come back later"),
            Reply(302, {"Location": "/elsewhere"}),
            Reply(200),
        ]
    )
    receiver.answer = lambda received: next(replies)
    contact_event(1)

    before = timezone.now()
    deliver_all()
    first = Delivery.objects.get()
    assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 503)
    wait = first.next_attempt_at - before
    assert timedelta(seconds=119) < wait < timedelta(seconds=125)
    attempt = Attempt.objects.get()
    assert (attempt.status_code, attempt.response) == (503, "busy, come back later")

    deliver_all()  # not due yet: nothing is sent
    assert len(receiver.received) == 1

    make_due()
    deliver_all()  # a redirect is a failure, not followed; retried after 5 min (schedule: 2nd)
    second = Delivery.objects.get()
    assert (second.status, second.attempts, second.last_status_code) == ("pending", 2, 302)
    wait = second.next_attempt_at - timezone.now()
    assert timedelta(minutes=4) < wait < timedelta(minutes=6)

    make_due()
    deliver_all()
    done = Delivery.objects.get()
    assert (done.status, done.attempts) == ("succeeded", 3)
    assert [r.headers["webhook-id"] for r in receiver.received] == [done.message_id] * 3
    assert Endpoint.objects.get().failing_since is None


def test_the_retry_schedule_then_failed_for_good(receiver, endpoint):
    receiver.answer = lambda received: Reply(500)
    contact_event(1)
    waits = []
    for _ in range(len(delivery.RETRY_SCHEDULE)):
        started = timezone.now()
        deliver_all()
        waits.append(Delivery.objects.get().next_attempt_at - started)
        make_due()

    for wait, planned in zip(waits, delivery.RETRY_SCHEDULE, strict=True):
        assert planned * 0.89 < wait < planned * 1.11 + timedelta(seconds=2)
    deliver_all()
    assert Delivery.objects.get().status == "failed"
    assert Attempt.objects.count() == len(delivery.RETRY_SCHEDULE) + 1


def test_410_disables_the_endpoint_and_its_deliveries_wait(receiver, endpoint):
    receiver.answer = lambda received: Reply(410)
    contact_event(1)
    contact_event(2, person=2)

    deliver_all()

    endpoint.refresh_from_db()
    assert endpoint.enabled is False and "410" in endpoint.disabled_reason
    assert Delivery.objects.filter(status="pending").count() == 2
    sent = len(receiver.received)
    make_due()
    deliver_all()
    assert len(receiver.received) == sent

    receiver.answer = lambda received: Reply(200)
    endpoints.enable(endpoint)
    deliver_all()
    assert Delivery.objects.filter(status="succeeded").count() == 2


def test_five_days_of_failures_disable_the_endpoint(receiver, endpoint):
    receiver.answer = lambda received: Reply(500)
    contact_event(1)
    deliver_all()
    Endpoint.objects.update(failing_since=timezone.now() - timedelta(days=5, minutes=1))
    make_due()

    deliver_all()

    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert endpoint.disabled_reason == "Every delivery failed for 5 days."


def test_a_receiver_down_for_an_hour_gets_every_event_afterwards_in_order_per_person(
    receiver, endpoint
):
    up = [False]
    receiver.answer = lambda received: Reply(200) if up[0] else Reply(503)
    for n in range(12):
        contact_event(n, person=n % 3 + 1)
    deliver_all()
    # An hour of the retry schedule (5 s, 5 min, 30 min): each person's first event is tried,
    # their later ones wait behind it.
    for _ in range(3):
        make_due()
        deliver_all()
    assert Delivery.objects.filter(status="succeeded").count() == 0
    assert {r.payload["data"]["n"] for r in receiver.received} == {0, 1, 2}
    for n in range(12, 16):  # and people keep doing things meanwhile
        contact_event(n, person=n % 3 + 1)

    up[0] = True
    mark = len(receiver.received)
    make_due()
    for _ in range(8):
        deliver_all()

    after = [r.payload["data"]["n"] for r in receiver.received[mark:]]
    assert all(r.verified for r in receiver.received)
    assert sorted(after) == list(range(16))  # every event, once
    for person in range(3):
        assert [n for n in after if n % 3 == person] == [n for n in range(16) if n % 3 == person]
    assert Delivery.objects.exclude(status="succeeded").count() == 0


def test_a_private_address_is_refused_unless_its_network_is_allowed(settings, receiver):
    endpoint, receiver.secret = endpoints.create(receiver.url, [])
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    contact_event(1)

    deliver_all()

    assert receiver.received == []
    found = Delivery.objects.get()
    assert found.status == "pending" and "Refused" in found.last_error
    assert "127.0.0.1 is a private, loopback" in Attempt.objects.get().error


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://localhost/hook",
        "http://192.168.0.10:8080/hook",
    ],
)
def test_inner_addresses_are_refused_before_connecting(settings, url):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(delivery.network.Refused):
        delivery.network.post(url, b"{}", {})


def test_a_redirect_is_not_followed(receiver, endpoint):
    with Receiver(secret=receiver.secret) as elsewhere:
        receiver.answer = lambda received: Reply(307, {"Location": elsewhere.url})
        contact_event(1)

        deliver_all()

        assert elsewhere.received == []
    assert len(receiver.received) == 1
    assert Delivery.objects.get().last_status_code == 307


def test_https_only_unless_debug_or_allowed(settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.DEBUG = False
    with pytest.raises(endpoints.EndpointInvalid, match="https"):
        endpoints.create("http://hooks.example.com/", [])
    endpoints.create("https://hooks.example.com/", [events.EMAIL_OPENED])


def test_a_rotated_secret_signs_with_both_for_24_hours(receiver, endpoint):
    old = receiver.secret
    new = endpoints.rotate_secret(endpoint)
    contact_event(1)

    deliver_all()

    received = receiver.received[0]
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    assert verifies(old, received) and verifies(new, received)

    Endpoint.objects.update(previous_secret_until=timezone.now() - timedelta(seconds=1))
    contact_event(2)
    deliver_all()
    later = receiver.received[-1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    assert verifies(new, later) and not verifies(old, later)


def test_a_test_event_and_redelivering_what_failed_since(receiver, endpoint):
    result = endpoints.send_test(endpoint)

    assert result.succeeded
    assert body_json(receiver.received[0])["type"] == "webhook.test"
    assert receiver.received[0].verified

    receiver.answer = lambda received: Reply(500)
    contact_event(1)
    deliver_all()
    Delivery.objects.filter(event_type="contact.updated").update(status="failed")
    receiver.answer = lambda received: Reply(200)
    since = timezone.now() - timedelta(hours=1)

    assert endpoints.redeliver_failed(endpoint, since) == 1
    deliver_all()
    assert Delivery.objects.filter(status="succeeded").count() == 2


def test_old_attempts_and_finished_deliveries_are_purged_after_30_days(receiver, endpoint):
    contact_event(1)
    contact_event(2)
    deliver_all()
    old = timezone.now() - timedelta(days=31)
    first = Delivery.objects.order_by("id").first()
    Delivery.objects.filter(pk=first.pk).update(created_at=old)
    Attempt.objects.filter(delivery=first).update(at=old)

    assert delivery.purge() == 2
    assert Delivery.objects.count() == 1 and Attempt.objects.count() == 1


def test_retry_after_as_an_http_date():
    now = timezone.now()
    later = now + timedelta(minutes=10)
    header = later.strftime("%a, %d %b %Y %H:%M:%S GMT")
    wait = delivery.retry_after(header, now)
    assert timedelta(minutes=9) < wait <= timedelta(minutes=10)
    assert delivery.retry_after("soon", now) is None


def test_the_command_and_the_beat_task_deliver(receiver, endpoint, capsys):
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    from crm.jobs import ensure_scheduled_jobs
    from webhooks.tasks import deliver_webhooks

    contact_event(1)
    call_command("deliver_webhooks")
    contact_event(2, person=2)
    running.run_and_purge(0)

    assert "1 events taken, 1 deliveries attempted" in capsys.readouterr().out
    assert len(receiver.payloads) == 2
    ensure_scheduled_jobs()
    task = PeriodicTask.objects.get(name="Deliver Webhooks")
    assert task.task == deliver_webhooks.name and task.crontab.minute == "*"
