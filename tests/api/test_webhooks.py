"""Webhook endpoints through the API, as an integration would use them: make one, keep its
secret, have a test event verified by a receiver with the `standardwebhooks` package."""

from datetime import timedelta

import pytest
from django.utils import timezone

from api import scopes
from crm import events
from crm.groups import MARKETING
from crm.models import Event
from tests.api.conftest import ApiClient, problem_of
from tests.webhooks.receiver import Receiver, Reply
from webhooks import delivery, fanout
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db
WEBHOOKS = "/api/v1/webhooks/"


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def test_post_answers_the_id_and_the_secret_once_and_the_test_event_verifies(admin_api, receiver):
    made = admin_api.post(WEBHOOKS, {"url": receiver.url, "events": ["email.opened"]})

    assert made.status_code == 201, made.content
    body = made.json()
    assert body["secret"].startswith("whsec_") and isinstance(body["id"], int)
    assert made["Location"].endswith(f"{WEBHOOKS}{body['id']}/")
    assert body["events"] == ["email.opened"] and body["enabled"] is True
    read = admin_api.get(f"{WEBHOOKS}{body['id']}/").json()
    assert "secret" not in read and read["url"] == receiver.url
    receiver.secret = body["secret"]

    tested = admin_api.post(f"{WEBHOOKS}{body['id']}/test/")

    assert tested.status_code == 200
    assert tested.json()["delivered"] is True and tested.json()["status_code"] == 204
    (received,) = receiver.received
    assert received.verified and received.payload["type"] == "webhook.test"


def test_list_change_and_delete(admin_api, receiver):
    first = admin_api.post(WEBHOOKS, {"url": receiver.url, "events": []}).json()
    admin_api.post(WEBHOOKS, {"url": receiver.url + "/2", "events": ["contact.created"]})

    listed = admin_api.get(WEBHOOKS).json()
    changed = admin_api.patch(
        f"{WEBHOOKS}{first['id']}/", {"events": ["email.clicked"], "batch_size": 50}
    )
    deleted = admin_api.delete(f"{WEBHOOKS}{first['id']}/")

    assert len(listed["results"]) == 2
    assert changed.status_code == 200
    assert (changed.json()["events"], changed.json()["batch_size"]) == (["email.clicked"], 50)
    assert deleted.status_code == 204
    assert Endpoint.objects.count() == 1


def test_unknown_event_types_and_plain_http_are_refused(admin_api, settings):
    unknown = admin_api.post(WEBHOOKS, {"url": "https://hooks.example.com/", "events": ["x.y"]})
    settings.WEBHOOK_ALLOW_HTTP = False
    plain = admin_api.post(WEBHOOKS, {"url": "http://hooks.example.com/", "events": []})

    assert unknown.status_code == 422 and "events.0" in problem_of(unknown)["errors"]
    assert plain.status_code == 422
    assert "https" in problem_of(plain)["errors"]["url"][0]
    assert not Endpoint.objects.exists()


def test_the_scope_and_the_administrators_permissions_are_needed(make_key):
    no_scope = ApiClient(make_key([scopes.PEOPLE_READ]))
    marketer = ApiClient(make_key(group=MARKETING))

    assert problem_of(no_scope.get(WEBHOOKS))["code"] == "missing_scope"
    assert problem_of(marketer.get(WEBHOOKS))["code"] == "permission_denied"


def test_attempts_deliveries_and_redelivering_what_failed_since(admin_api, receiver):
    body = admin_api.post(WEBHOOKS, {"url": receiver.url, "events": []}).json()
    receiver.secret = body["secret"]
    receiver.answer = lambda received: Reply(500, body=b"oops")
    events.record_event(events.CONTACT_CREATED, {"id": 7}, person=("contact", 7))
    fanout.fan_out()
    delivery.deliver_due()
    Delivery.objects.update(status="failed")

    attempts = admin_api.get(f"{WEBHOOKS}{body['id']}/attempts/").json()["results"]
    deliveries = admin_api.get(f"{WEBHOOKS}{body['id']}/deliveries/").json()["results"]
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    receiver.answer = lambda received: Reply(200)
    again = admin_api.post(f"{WEBHOOKS}{body['id']}/redeliver/", {"since": since})
    delivery.deliver_due()

    assert (attempts[0]["status_code"], attempts[0]["response"]) == (500, "oops")
    assert attempts[0]["event_type"] == "contact.created"
    assert deliveries[0]["status"] == "failed"
    assert again.json() == {"redelivered": 1}
    assert receiver.received[-1].verified
    assert Delivery.objects.get().status == "succeeded"


def test_a_rotated_secret_is_answered_once_and_both_sign(admin_api, receiver):
    body = admin_api.post(WEBHOOKS, {"url": receiver.url}).json()

    rotated = admin_api.post(f"{WEBHOOKS}{body['id']}/rotate-secret/").json()
    receiver.secret = rotated["secret"]
    admin_api.post(f"{WEBHOOKS}{body['id']}/test/")

    signatures = receiver.received[0].headers["webhook-signature"].split(" ")
    assert rotated["secret"] != body["secret"] and len(signatures) == 2
    assert receiver.received[0].verified


def test_deleting_a_contact_through_the_api_records_its_event(admin_api):
    contact = admin_api.post(
        "/api/v1/contacts/upsert/", {"email": "bo@example.com", "last_name": "Bo", "merge": "fill"}
    ).json()

    assert admin_api.delete(f"/api/v1/contacts/{contact['id']}/").status_code == 204

    kinds = list(
        Event.objects.filter(person_id=contact["id"]).order_by("id").values_list("type", flat=True)
    )
    assert kinds == ["contact.created", "contact.deleted"]
