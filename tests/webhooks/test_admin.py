"""Webhook endpoints in the admin: the secret shown once, test events, redelivery, notices."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import events
from tests.webhooks.receiver import Reply
from webhooks import delivery, fanout
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db(transaction=True)
CHANGELIST = "admin:webhooks_endpoint_changelist"


def test_an_endpoint_made_in_the_admin_shows_its_secret_once_and_deliveries_verify(
    admin_client, admin_user, receiver
):
    response = admin_client.post(
        reverse("admin:webhooks_endpoint_add"),
        {
            "url": receiver.url,
            "description": "Shop",
            "events": ["contact.created", "email.opened"],
            "batch_size": "1",
            "enabled": "on",
            "owner": admin_user.pk,
        },
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = response.context["secret"]
    assert secret.startswith("whsec_") and secret in response.content.decode()
    endpoint = Endpoint.objects.get()
    assert endpoint.events == ["contact.created", "email.opened"]
    assert secret not in endpoint.secret_encrypted  # stored encrypted
    page = admin_client.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))
    assert secret not in page.content.decode()

    receiver.secret = secret
    events.record_event(events.CONTACT_CREATED, {"id": 1}, person=("contact", 1))
    events.record_event(events.CONTACT_DELETED, {"id": 1}, person=("contact", 1))
    fanout.fan_out()
    delivery.deliver_due()
    assert [p["type"] for p in receiver.payloads] == ["contact.created"]


def test_a_bad_url_or_event_is_refused_with_a_message(admin_client, settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    response = admin_client.post(
        reverse("admin:webhooks_endpoint_add"),
        {"url": "http://example.com/hook", "batch_size": "1"},
    )

    assert response.status_code == 200
    assert "https" in str(response.context["adminform"].form.errors["url"])
    assert not Endpoint.objects.exists()


def test_send_a_test_event_and_redeliver_failed_since(admin_client, receiver, endpoint):
    changelist = reverse(CHANGELIST)

    response = admin_client.post(
        changelist, {"action": "send_test_event", "_selected_action": [endpoint.pk]}, follow=True
    )

    assert "answered 204 to the test event" in response.content.decode()
    assert receiver.payloads[0]["type"] == "webhook.test"

    Delivery.objects.update(status="failed", created_at=timezone.now() - timedelta(hours=2))
    asked = admin_client.post(
        changelist, {"action": "redeliver_failed", "_selected_action": [endpoint.pk]}
    )
    assert asked.status_code == 200 and "since_0" in asked.content.decode()
    since = timezone.localtime(timezone.now() - timedelta(hours=3))
    response = admin_client.post(
        changelist,
        {
            "action": "redeliver_failed",
            "_selected_action": [endpoint.pk],
            "apply": "yes",
            "since_0": since.strftime("%Y-%m-%d"),
            "since_1": since.strftime("%H:%M:%S"),
        },
        follow=True,
    )
    assert "1 failed delivery will be sent again." in response.content.decode()
    delivery.deliver_due()
    assert len(receiver.payloads) == 2


def test_the_owner_of_a_disabled_endpoint_sees_a_notice(admin_client, admin_user, receiver):
    endpoint = Endpoint.objects.create(url=receiver.url, owner=admin_user, secret_encrypted="")
    receiver.answer = lambda received: Reply(410)
    delivery.disable(endpoint, "The endpoint answered 410 Gone.", timezone.now())

    home = admin_client.get(reverse("admin:index")).content.decode()
    listing = admin_client.get(reverse(CHANGELIST)).content.decode()

    for page in (home, listing):
        assert f"The webhook endpoint {receiver.url} was disabled" in page
        assert "410 Gone" in page


def test_the_attempts_and_deliveries_pages_list_them(admin_client, receiver, endpoint):
    events.record_event(events.EMAIL_SENT, {"email": "a@example.com"})
    fanout.fan_out()
    delivery.deliver_due()

    attempts = admin_client.get(reverse("admin:webhooks_attempt_changelist"))
    deliveries = admin_client.get(reverse("admin:webhooks_delivery_changelist"))

    assert attempts.status_code == deliveries.status_code == 200
    assert "204" in attempts.content.decode()
    assert Delivery.objects.get().message_id in deliveries.content.decode()


def test_the_spanish_admin_speaks_spanish(admin_client, endpoint):
    page = admin_client.get(reverse(CHANGELIST), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Enviar un evento de prueba" in page
