"""Returned mail as servers send it: server formats, bent DSNs, matching (tracking.bounces)."""

import pytest

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from tests.factories import SentQueueItemFactory
from tests.tracking import report_samples as reports
from tests.tracking import server_samples as samples
from tracking import bounces

pytestmark = pytest.mark.django_db

USER_UNKNOWN = "550-5.1.1 The email account that you tried to reach does not exist."
SPAMHAUS = "550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"


@pytest.fixture
def item():
    return SentQueueItemFactory()


@pytest.mark.parametrize(
    ("sample", "kind", "status"),
    [
        pytest.param(samples.qmail, "hard", "5.1.1", id="qmail"),
        pytest.param(samples.qmail_lower_cased, "hard", "5.1.2", id="qmail-lower-cased-verp"),
        pytest.param(samples.exim_text, "soft", "5.2.2", id="exim-mailbox-full"),
        pytest.param(samples.yahoo, "hard", "", id="yahoo"),
        pytest.param(lambda i: samples.gmail_text(i, USER_UNKNOWN), "hard", "5.1.1", id="gmail"),
        pytest.param(lambda i: samples.gmail_text(i, SPAMHAUS), "blocked", "5.7.1", id="gmail-rbl"),
        pytest.param(samples.exchange_55, "hard", "", id="exchange-5.5"),
        pytest.param(samples.domino, "hard", "", id="domino"),
        pytest.param(samples.mdaemon, "hard", "5.1.1", id="mdaemon"),
        pytest.param(samples.smtp32, "hard", "5.2.1", id="smtp32"),
        pytest.param(samples.communigate, "soft", "", id="communigate-quota"),
        pytest.param(samples.sendmail_text, "hard", "5.1.1", id="sendmail-text"),
        pytest.param(samples.aol, "hard", "", id="aol"),
        pytest.param(samples.groupwise, "hard", "", id="groupwise"),
        pytest.param(samples.netscape_quota, "soft", "", id="netscape-quota"),
        pytest.param(samples.domino_old, "hard", "", id="domino-name-and-address-book"),
        pytest.param(samples.postfix_text, "hard", "", id="postfix-text"),
        pytest.param(samples.qmail_no_mailbox, "hard", "5.1.1", id="qmail-no-mailbox"),
        pytest.param(reports.outlook_blocked_dsn, "blocked", "5.7.1", id="dsn-blocklist"),
        pytest.param(reports.dsn_action_with_comment, "hard", "5.1.1", id="dsn-action-comment"),
        pytest.param(reports.dsn_action_failure, "hard", "5.1.1", id="dsn-action-failure"),
        pytest.param(reports.dsn_status_from_diagnostic, "hard", "5.1.1", id="dsn-no-status"),
        pytest.param(reports.dsn_empty_status, "hard", "", id="dsn-empty-status"),
        pytest.param(reports.dsn_without_recipient_fields, "hard", "5.1.1", id="dsn-no-fields"),
        pytest.param(reports.dsn_in_mixed, "soft", "5.2.2", id="dsn-in-multipart-mixed"),
        pytest.param(reports.dsn_forwarded, "hard", "5.1.1", id="dsn-forwarded"),
        pytest.param(reports.dsn_base64_returned, "hard", "5.1.1", id="base64-message-rfc822"),
        pytest.param(reports.qp_returned_headers, "hard", "5.1.1", id="quoted-printable-headers"),
        pytest.param(reports.qmail_base64_attachment, "hard", "5.1.1", id="base64-attachment"),
    ],
)
def test_it_reads_the_failure_and_its_kind(item, sample, kind, status):
    bounce = bounces.parse(sample(item))

    assert bounce is not None
    assert (bounce.item_id, bounce.kind, bounce.status) == (item.pk, kind, status)


@pytest.mark.parametrize(
    "sample",
    [samples.exim_delay_warning, samples.gmail_delayed, samples.sendmail_warning],
    ids=["exim", "gmail", "sendmail"],
)
def test_a_delay_warning_in_a_server_format_records_nothing(item, sample):
    bounce = bounces.parse(sample(item))

    assert (bounce.item_id, bounce.kind) == (item.pk, "delayed")
    assert bounces.record(bounce) is False
    assert not CampaignLogRecord.objects.filter(action="bounced").exists()


def test_the_server_words_are_kept_with_the_bounce(item):
    bounce = bounces.parse(samples.gmail_text(item, SPAMHAUS))

    assert "zen.spamhaus.org" in bounce.diagnostic
    bounces.record(bounce)
    record = CampaignLogRecord.objects.get(queue_item=item, action="bounced")
    assert record.bounce_type == "blocked" and "5.7.1" in record.bounce_detail
    assert "blocked using zen.spamhaus.org" in record.bounce_detail


def test_a_blocked_bounce_leaves_the_address_as_it_was(item):
    assert bounces.record(bounces.parse(reports.outlook_blocked_dsn(item)))

    item.email_address.refresh_from_db()
    assert (item.email_address.invalid, item.email_address.soft_bounces) == (False, 0)


def test_an_auto_reply_to_the_verp_address_is_left_alone(item):
    assert bounces.parse(reports.auto_reply(item)) is None


def test_a_person_quoting_a_server_notice_is_left_alone(item):
    quoted = samples.qmail(item).replace(b"From: MAILER-DAEMON@mx1.example.net", b"From: j@x.org")
    quoted = quoted.replace(b"Return-Path: <>", b"Return-Path: <j@x.org>")

    assert bounces.parse(quoted) is None


def test_an_auto_reply_with_a_null_return_path_is_left_alone(item):
    raw = reports.auto_reply(item).replace(b"Auto-Submitted", b"Return-Path: <>\r\nAuto-Submitted")

    assert bounces.parse(raw) is None


def test_a_mail_system_notice_without_our_token_is_left_alone(item):
    raw = samples.qmail(item).replace(tokens.make_verp(item.pk).encode(), b"nothing")
    raw = raw.replace(b"X-Queue-Item-Id", b"X-Other")

    assert bounces.parse(raw) is None


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda token: token[:-3] + "aaa", id="altered-signature"),
        pytest.param(lambda token: "9" + token, id="another-id"),
    ],
)
def test_a_forged_verp_address_changes_nothing(item, forge):
    token = tokens.make_verp(item.pk)
    raw = samples.qmail_lower_cased(item).replace(token.lower().encode(), forge(token).encode())

    assert bounces.parse(raw) is None


def test_an_old_style_verp_address_still_names_its_item(item):
    new, old = tokens.make_verp(item.pk), tokens.make(tokens.VERP, item.pk)
    raw = samples.qmail_lower_cased(item).replace(new.lower().encode(), old.encode())

    assert bounces.parse(raw).item_id == item.pk


def test_the_verp_token_survives_any_case():
    token = tokens.make_verp(4242)

    assert token == token.lower()
    assert tokens.read_verp(token.upper()) == 4242
    assert tokens.read_verp(token[:-1] + ("a" if token[-1] != "a" else "b")) is None
    assert tokens.read_verp(tokens.make(tokens.HEADER, 4242)) is None


def test_garbage_is_left_alone():
    for raw in (b"", b"\x00\xff" * 50, b"Content-Type: multipart/report\r\n\r\n--x--"):
        assert bounces.parse(raw) is None


def test_a_token_with_look_alike_letters_names_nobody(item):
    token = tokens.make_verp(item.pk)
    kelvin = token.replace("k", "\u212a") if "k" in token else token[:-1] + "\u212a"
    raw = reports.qp_returned_headers(item).replace(b"X-Queue-Item-Id", b"X-Other")
    raw = raw.replace(b"n@example.com", f"bounce+{kelvin}@b.example".encode())

    assert tokens.read_verp(kelvin) is None
    assert bounces.parse(raw) is None
