"""ESP webhook events (through django-anymail) feeding the campaign log: tracking.esp.

The payloads follow each provider's documented webhook format; anymail's own views parse them
(basic auth, Mailgun's signature), as in production.
"""

import base64
import hashlib
import hmac
import json
import time

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from targetlists.models import TargetListEntry
from tests.factories import SentQueueItemFactory, TargetListFactory, TrackingUrlFactory
from tracking.models import TrackingHit

pytestmark = [
    pytest.mark.django_db,
    # anymail still parses SendGrid's events but no longer tests against SendGrid itself.
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def auth() -> dict:
    secret = base64.b64encode(settings.ANYMAIL["WEBHOOK_SECRET"].encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {secret}"}


def post(client, esp: str, payload, **headers):
    return client.post(
        f"/anymail/{esp}/tracking/",
        data=json.dumps(payload),
        content_type="application/json",
        **(auth() | headers),
    )


def header_token(item) -> str:
    return tokens.make(tokens.HEADER, item.pk)


def sendgrid(item, event: str, **fields) -> list[dict]:
    """A SendGrid Event Webhook post (the metadata comes back as top-level unique args)."""
    return [
        {
            "email": item.email,
            "timestamp": int(time.time()),
            "smtp-id": f"<massmail.{header_token(item)}@example.com>",
            "event": event,
            "sg_event_id": "sg-event-1",
            "sg_message_id": "sg-message-1.filter0001",
            "massmail_item": header_token(item),
            **fields,
        }
    ]


def mailgun(item, event: str, **fields) -> dict:
    """A Mailgun webhook post, signed with the test signing key."""
    timestamp, token = str(int(time.time())), "0123456789abcdef0123456789abcdef0123456789abcdef00"
    key = settings.ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"].encode()
    signature = hmac.new(key, (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": {
            "event": event,
            "timestamp": time.time(),
            "id": "mailgun-event-1",
            "recipient": item.email,
            "user-variables": {"massmail_item": header_token(item)},
            "message": {"headers": {"message-id": "20261127.1@example.com"}},
            **fields,
        },
    }


def postmark(item, record_type: str, **fields) -> dict:
    return {
        "RecordType": record_type,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Email": item.email,
        "Recipient": item.email,
        "Metadata": {"massmail_item": header_token(item)},
        **fields,
    }


def log(item) -> list[tuple[str, str]]:
    records = CampaignLogRecord.objects.filter(queue_item=item)
    return sorted(records.values_list("action", "bounce_type"))


@pytest.fixture
def item():
    return SentQueueItemFactory()


def test_it_refuses_a_post_without_the_webhook_secret(item):
    client = Client(raise_request_exception=False)
    response = client.post(
        "/anymail/sendgrid/tracking/",
        data=json.dumps(sendgrid(item, "bounce", status="5.1.1")),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert log(item) == []


def test_a_sendgrid_bounce_is_a_hard_bounce(client, item):
    reason = "550 5.1.1 The email account that you tried to reach does not exist."

    response = post(
        client, "sendgrid", sendgrid(item, "bounce", type="bounce", status="5.1.1", reason=reason)
    )

    assert response.status_code == 200
    assert log(item) == [("bounced", "hard")]
    item.email_address.refresh_from_db()
    assert item.email_address.invalid


def test_a_sendgrid_block_is_a_soft_bounce(client, item):
    reason = "421 4.7.0 Try again later, closing connection."

    post(client, "sendgrid", sendgrid(item, "bounce", type="blocked", reason=reason))

    assert log(item) == [("bounced", "soft")]
    item.email_address.refresh_from_db()
    assert (item.email_address.soft_bounces, item.email_address.invalid) == (1, False)


def test_a_sendgrid_blocklisting_is_a_blocked_bounce_that_leaves_the_address(client, item):
    reason = "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using Spamhaus"

    post(client, "sendgrid", sendgrid(item, "bounce", type="blocked", reason=reason))

    assert log(item) == [("bounced", "blocked")]
    item.email_address.refresh_from_db()
    assert (item.email_address.soft_bounces, item.email_address.invalid) == (0, False)


def test_a_sendgrid_bounce_for_a_full_mailbox_is_soft(client, item):
    reason = "552 5.2.2 The email account that you tried to reach is over quota."

    post(client, "sendgrid", sendgrid(item, "bounce", type="bounce", status="5.2.2", reason=reason))

    assert log(item) == [("bounced", "soft")]


def test_the_echoed_message_id_names_the_item_without_metadata(client, item):
    payload = sendgrid(item, "bounce", type="bounce", status="5.1.1", reason="550 5.1.1 unknown")
    del payload[0]["massmail_item"]

    post(client, "sendgrid", payload)

    assert log(item) == [("bounced", "hard")]


def test_a_mailgun_permanent_failure_is_hard_and_a_temporary_one_is_nothing(client, item):
    status = {"code": 550, "message": "5.1.1 The email account does not exist", "description": ""}
    later = SentQueueItemFactory()

    hard = post(
        client,
        "mailgun",
        mailgun(
            item,
            "failed",
            severity="permanent",
            **{
                "delivery-status": status,
                "reason": "bounce",
            },
        ),
    )
    temporary = {"code": 452, "message": "4.2.2 Mailbox full", "description": ""}
    post(
        client,
        "mailgun",
        mailgun(
            later,
            "failed",
            severity="temporary",
            **{
                "delivery-status": temporary,
                "reason": "generic",
            },
        ),
    )

    assert hard.status_code == 200
    assert log(item) == [("bounced", "hard")]
    assert log(later) == []


def test_a_mailgun_post_with_a_wrong_signature_changes_nothing(client, item):
    payload = mailgun(item, "failed", severity="permanent", reason="bounce")
    payload["signature"]["signature"] = "0" * 64

    response = post(client, "mailgun", payload)

    assert response.status_code == 400
    assert log(item) == []


def test_a_postmark_soft_bounce_is_soft(client, item):
    payload = postmark(
        item,
        "Bounce",
        Type="SoftBounce",
        TypeCode=4096,
        Description="Mailbox full",
        Details="smtp;452 4.2.2 Mailbox full",
        BouncedAt="2026-11-27T10:00:00Z",
        ID=42,
    )

    response = post(client, "postmark", payload)

    assert response.status_code == 200
    assert log(item) == [("bounced", "soft")]


def test_a_spam_complaint_opts_the_address_out_of_all_mass_email(client, item):
    post(client, "sendgrid", sendgrid(item, "spamreport"))

    assert log(item) == [("opted_out", "")]
    item.email_address.refresh_from_db()
    assert item.email_address.opt_out


def test_an_unsubscribe_at_the_provider_opts_out_of_the_mass_emails_lists(client, item):
    target_list = TargetListFactory()
    item.mass_email.target_lists.add(target_list)
    entry = TargetListEntry.objects.create(target_list=target_list, contact=item.contact)

    post(client, "sendgrid", sendgrid(item, "unsubscribe"))

    entry.refresh_from_db()
    assert entry.opted_out
    assert log(item) == [("opted_out", "")]


def test_opens_and_clicks_reported_by_the_provider_are_recorded_like_ours(client, item):
    link = TrackingUrlFactory(campaign=item.mass_email.campaign, url="https://example.org/offer")
    other = TrackingUrlFactory(campaign=item.mass_email.campaign, url="https://example.org/more")
    our_click = "https://crm.example.com" + reverse(
        "tracking:click", args=[tokens.make(tokens.CLICK, item.pk, link.pk)]
    )

    post(client, "sendgrid", sendgrid(item, "open", useragent=BROWSER, ip="203.0.113.9"))
    post(client, "sendgrid", sendgrid(item, "click", url=our_click, useragent=BROWSER))
    post(client, "sendgrid", sendgrid(item, "click", url=other.url, useragent=BROWSER))

    records = CampaignLogRecord.objects.filter(queue_item=item)
    clicked = set(records.filter(action="clicked").values_list("tracking_url", flat=True))
    assert clicked == {link.pk, other.pk}
    assert records.filter(action="opened").count() == 1
    hits = TrackingHit.objects.filter(queue_item=item)
    assert sorted(hits.values_list("kind", "user_agent")) == [
        ("click", BROWSER),
        ("click", BROWSER),
        ("open", BROWSER),
    ]


def test_a_click_on_another_items_link_or_an_unknown_address_records_nothing(client, item):
    link = TrackingUrlFactory(campaign=item.mass_email.campaign)
    someone_else = SentQueueItemFactory(mass_email=item.mass_email)
    their_click = "https://crm.example.com" + reverse(
        "tracking:click", args=[tokens.make(tokens.CLICK, someone_else.pk, link.pk)]
    )

    post(client, "sendgrid", sendgrid(item, "click", url=their_click))
    post(client, "sendgrid", sendgrid(item, "click", url="https://evil.example.net/"))

    assert not CampaignLogRecord.objects.filter(action="clicked").exists()


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda item: header_token(item)[:-2] + "xx", id="altered"),
        pytest.param(lambda item: tokens.make(tokens.OPEN, item.pk), id="another kind"),
    ],
)
def test_an_event_whose_token_does_not_verify_names_nobody(client, item, token):
    payload = sendgrid(item, "bounce", type="bounce", status="5.1.1", reason="550 5.1.1 unknown")
    payload[0]["massmail_item"] = token(item)
    payload[0]["smtp-id"] = "<not-ours@example.com>"

    assert post(client, "sendgrid", payload).status_code == 200
    assert log(item) == []
    item.email_address.refresh_from_db()
    assert not item.email_address.invalid


def test_deliveries_and_delays_record_nothing(client, item):
    post(client, "sendgrid", sendgrid(item, "delivered", response="250 OK"))
    post(client, "sendgrid", sendgrid(item, "deferred", response="451 4.3.0 try later"))

    assert log(item) == []


def amazon_ses(item, bounce_type: str, diagnostic: str) -> dict:
    """An SNS notification of an SES bounce, published with the message's original headers."""
    event = {
        "notificationType": "Bounce",
        "mail": {
            "timestamp": "2026-11-27T10:00:00.000Z",
            "messageId": "0100017c-ses-message-id",
            "destination": [item.email],
            "headers": [
                {"name": "X-Metadata", "value": json.dumps({"massmail_item": header_token(item)})},
                {"name": "Subject", "value": "November news"},
            ],
        },
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": item.email, "diagnosticCode": diagnostic}],
            "timestamp": "2026-11-27T10:00:01.000Z",
        },
    }
    return {
        "Type": "Notification",
        "MessageId": "sns-message-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
        "Message": json.dumps(event),
        "Timestamp": "2026-11-27T10:00:02.000Z",
    }


def test_amazon_ses_permanent_and_transient_bounces(client, item):
    later = SentQueueItemFactory()
    headers = {
        "HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification",
        "HTTP_X_AMZ_SNS_MESSAGE_ID": "sns-message-1",
    }

    post(client, "amazon_ses", amazon_ses(item, "Permanent", "smtp; 550 5.1.1 unknown"), **headers)
    post(client, "amazon_ses", amazon_ses(later, "Transient", ""), **headers)

    assert log(item) == [("bounced", "hard")]
    assert log(later) == [("bounced", "soft")]
