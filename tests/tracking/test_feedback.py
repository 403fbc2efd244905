"""Feedback-loop complaints (ARF, RFC 5965) read from the bounce mailbox (tracking.feedback)."""

import pytest

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from tests.factories import SentQueueItemFactory
from tests.imap_server import imap_mailbox, imap_server  # noqa: F401
from tests.tracking import report_samples as reports
from tests.tracking.dsn import original
from tests.tracking.server_samples import crlf
from tests.tracking.test_mailboxes import account_for, seen_flags
from tracking import bounces, mailboxes

pytestmark = pytest.mark.django_db


@pytest.fixture
def item():
    return SentQueueItemFactory()


def test_an_abuse_report_opts_the_address_out_and_logs_it(item):
    report = bounces.parse(reports.arf(item))

    assert (report.item_id, report.kind) == (item.pk, "complaint")
    assert bounces.record(report) is True
    item.email_address.refresh_from_db()
    assert item.email_address.opt_out
    assert CampaignLogRecord.objects.filter(queue_item=item, action="opted_out").count() == 1
    assert not CampaignLogRecord.objects.filter(action="bounced").exists()


@pytest.mark.parametrize("feedback_type", ["not-spam", "auth-failure", "virus"])
def test_reports_that_are_not_complaints_are_left_alone(item, feedback_type):
    assert bounces.parse(reports.arf(item, feedback_type)) is None


def test_a_report_with_a_forged_item_id_changes_nothing(item):
    header = tokens.make(tokens.HEADER, item.pk)
    forged = reports.arf(item).replace(header.encode(), (header[:-2] + "zz").encode())
    forged = forged.replace(tokens.make_verp(item.pk).encode(), b"nobody")

    assert bounces.parse(forged) is None
    item.email_address.refresh_from_db()
    assert not item.email_address.opt_out


def test_a_complaint_read_twice_is_logged_once(item):
    report = bounces.parse(reports.arf(item))

    bounces.record(report)
    bounces.record(report)

    assert CampaignLogRecord.objects.filter(queue_item=item, action="opted_out").count() == 1


def test_the_mailbox_run_counts_complaints(imap_mailbox, item):  # noqa: F811
    imap_mailbox.append(reports.arf(item))
    imap_mailbox.append(reports.auto_reply(item))

    result = mailboxes.check_account(account_for(imap_mailbox))

    assert (result.read, result.complaint, result.left_alone) == (2, 1, 1)
    assert seen_flags(imap_mailbox) == [True, False]


def test_an_opt_out_report_opts_the_address_out(item):
    report = bounces.parse(reports.arf(item, "opt-out"))

    assert (report.item_id, report.kind) == (item.pk, "complaint")


def test_a_junk_mail_report_without_arf_is_a_complaint(item):
    """Microsoft's older JMRP: the reported message attached, with Hotmail's header."""
    jmrp = f"""\
From: staff@hotmail.example.com
To: fbl@example.com
Subject: complaint about message from 192.0.2.1
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="J"

--J
Content-Type: message/rfc822

X-HmXmrOriginalRecipient: <{item.email}>
{original(item)}
--J--
"""

    report = bounces.parse(crlf(jmrp))

    assert (report.item_id, report.kind) == (item.pk, "complaint")
    assert bounces.parse(crlf(jmrp.replace("X-HmXmrOriginalRecipient", "X-Other"))) is None
