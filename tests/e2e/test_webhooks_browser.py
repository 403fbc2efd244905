"""An administrator makes a webhook endpoint in the admin, copies its secret, sends a test
event that a receiver verifies with `standardwebhooks`, and sees a disabled endpoint's notice."""

import pytest
from django.utils import timezone

from tests.e2e.test_campaign_browser import log_in
from tests.factories import UserFactory
from tests.webhooks.receiver import Receiver, Reply
from webhooks import delivery
from webhooks.models import Endpoint

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_endpoint_is_made_tested_and_its_disabling_noticed(
    page, live_server, settings, screenshot
):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    admin = UserFactory(username="ada", is_staff=True, is_superuser=True)
    log_in(page, live_server, admin)

    with Receiver() as receiver:
        page.goto(f"{live_server.url}/admin/webhooks/endpoint/add/")
        page.fill("#id_url", receiver.url)
        page.fill("#id_description", "Shop")
        page.check("input[value='email.unsubscribed']")
        page.click("input[name=_save]")
        secret = page.locator("#webhook-secret").input_value()
        screenshot(page, "webhook_secret_shown_once")
        assert secret.startswith("whsec_")
        receiver.secret = secret

        page.goto(f"{live_server.url}/admin/webhooks/endpoint/")
        page.check("input[name=_selected_action]")
        page.select_option("select[name=action]", "send_test_event")
        page.click("button[name=index]")
        page.wait_for_selector("text=answered 204 to the test event")
        assert receiver.received[0].verified
        assert receiver.payloads[0]["type"] == "webhook.test"

        receiver.answer = lambda received: Reply(410)
        endpoint = Endpoint.objects.get()
        delivery.disable(endpoint, "The endpoint answered 410 Gone.", timezone.now())
    page.goto(f"{live_server.url}/admin/")
    notice = page.locator("#webhook-notices")
    notice.wait_for()
    assert "was disabled: The endpoint answered 410 Gone." in notice.inner_text()
    screenshot(page, "webhook_disabled_notice")
