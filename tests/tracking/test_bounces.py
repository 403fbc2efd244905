"""Reading delivery status notifications and recording their bounces (tracking.bounces)."""

import pytest

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord, MassEmailSettings
from campaigns.results.statistics import log_counts
from tests.factories import SentQueueItemFactory
from tests.tracking.dsn import exim_headers_dsn, postfix_dsn
from tracking import bounces

pytestmark = pytest.mark.django_db


@pytest.fixture
def item():
    return SentQueueItemFactory()


def bounced(item) -> list[str]:
    records = CampaignLogRecord.objects.filter(queue_item=item, action="bounced")
    return sorted(records.values_list("bounce_type", flat=True))


def test_a_permanent_failure_is_a_hard_bounce_that_invalidates_the_address(item):
    bounce = bounces.parse(postfix_dsn(item))

    assert bounce == bounces.Bounce(
        item_id=item.pk,
        kind="hard",
        status="5.1.1",
        diagnostic=f"smtp; 550 5.1.1 <{item.email}>: Recipient address rejected: User unknown",
        recipient=item.email,
    )
    assert bounces.record(bounce) is True
    assert bounced(item) == ["hard"]
    item.email_address.refresh_from_db()
    assert item.email_address.invalid
    counts = log_counts(item.mass_email.campaign)
    assert (counts["bounced"], counts["hard"], counts["soft"]) == (1, 1, 0)


def test_a_report_to_the_verp_address_names_its_item_without_our_header(item):
    raw = exim_headers_dsn(item, tokens.make(tokens.VERP, item.pk))

    assert bounces.parse(raw) == bounces.Bounce(item.pk, "soft", "5.2.2", "", item.email)


def test_soft_bounces_count_until_the_limit_makes_the_address_invalid(item):
    config = MassEmailSettings.load()
    config.soft_bounce_limit = 2
    config.save()
    later = SentQueueItemFactory(email_address=item.email_address, contact=item.contact)
    full = "smtp; 452 4.2.2 Mailbox full"

    first = bounces.parse(postfix_dsn(item, status="4.2.2", diagnostic=full))
    assert (first.kind, first.status) == ("soft", "4.2.2")
    bounces.record(first)
    item.email_address.refresh_from_db()
    assert (item.email_address.soft_bounces, item.email_address.invalid) == (1, False)

    bounces.record(bounces.parse(postfix_dsn(later, status="4.2.2", diagnostic=full)))
    item.email_address.refresh_from_db()
    assert (item.email_address.soft_bounces, item.email_address.invalid) == (2, True)
    assert bounced(item) == bounced(later) == ["soft"]


def test_a_delay_warning_is_read_and_records_nothing(item):
    bounce = bounces.parse(postfix_dsn(item, status="4.4.1", action="delayed"))

    assert bounce.kind == "delayed"
    assert bounces.record(bounce) is False
    assert bounced(item) == []
    item.email_address.refresh_from_db()
    assert (item.email_address.soft_bounces, item.email_address.invalid) == (0, False)


def test_a_report_read_twice_is_recorded_once(item):
    bounce = bounces.parse(postfix_dsn(item))

    assert bounces.record(bounce) is True
    assert bounces.record(bounce) is False
    assert bounced(item) == ["hard"]


def test_a_test_send_is_logged_and_leaves_the_address_alone():
    item = SentQueueItemFactory(is_test=True)

    bounces.record(bounces.parse(postfix_dsn(item)))

    record = CampaignLogRecord.objects.get(queue_item=item, action="bounced")
    assert record.is_test
    item.email_address.refresh_from_db()
    assert not item.email_address.invalid
    assert log_counts(item.mass_email.campaign)["bounced"] == 0


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda item: tokens.make(tokens.HEADER, item.pk)[:-2] + "xx", id="altered"),
        pytest.param(lambda item: tokens.make(tokens.OPEN, item.pk), id="another kind"),
        pytest.param(lambda item: f"{item.pk + 1:x}.AAAAAAAAAAAAAAAAAAAAAA", id="forged"),
    ],
)
def test_a_report_whose_token_is_not_ours_is_left_alone(item, token):
    assert bounces.parse(postfix_dsn(item, header_token=token(item))) is None


def test_a_forged_verp_address_names_nobody(item):
    forged = tokens.make(tokens.VERP, item.pk)[:-3] + "abc"

    assert bounces.parse(exim_headers_dsn(item, forged)) is None


def test_messages_that_only_look_like_bounces_are_left_alone(item):
    header = tokens.make(tokens.HEADER, item.pk)
    auto_reply = f"""\
From: someone@example.org
Subject: Undeliverable: mailbox full, user unknown, permanent failure 550
Content-Type: text/plain

I am away. Your message:
X-Queue-Item-Id: {header}
""".encode()

    assert bounces.parse(auto_reply) is None
    assert bounces.parse(postfix_dsn(item, status="2.0.0", action="delivered")) is None
    assert bounces.parse(postfix_dsn(item, status="2.0.0", action="relayed")) is None


def test_a_report_naming_no_item_of_ours_is_left_alone(item):
    raw = postfix_dsn(item).replace(b"X-Queue-Item-Id", b"X-Other-Header")

    assert bounces.parse(raw) is None


def test_the_utf8_delivery_status_of_rfc_6533_is_read(item):
    raw = postfix_dsn(item, status="5.1.10", report_type="message/global-delivery-status")

    assert bounces.parse(raw).kind == "hard"


def test_a_bounce_of_an_item_deleted_since_records_nothing(item):
    bounce = bounces.parse(postfix_dsn(item))
    item.delete()

    assert bounces.record(bounce) is False
    assert not CampaignLogRecord.objects.filter(action="bounced").exists()
