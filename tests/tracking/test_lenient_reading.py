"""Returned mail the strict readers refused: bent reports, gateways' own notices, broken MIME
(tracking.dsn, tracking.server_bounces, tracking.returned)."""

import pytest

from tests.factories import SentQueueItemFactory
from tests.tracking.dsn import original
from tests.tracking.server_samples import crlf, verp
from tracking import bounces

pytestmark = pytest.mark.django_db


@pytest.fixture
def item():
    return SentQueueItemFactory()


def report(item, fields: str, text: str = "Your message could not be delivered.\n") -> bytes:
    return crlf(f"""\
Return-Path: <>
From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.net>
To: {verp(item)}
Subject: Returned mail: see transcript for details
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="R"

--R
Content-Type: text/plain

{text}
--R
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net

{fields.format(email=item.email)}

--R
Content-Type: message/rfc822

{original(item)}
--R--
""")


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        # sendmail turns a bare 550 into 5.1.1: the remote's words decide
        (
            "Final-Recipient: rfc822; {email}\nAction: failed\nStatus: 5.1.1\n"
            "Diagnostic-Code: smtp; 550 Requested action not taken: mailbox unavailable",
            "soft",
        ),
        (
            "Final-Recipient: rfc822; {email}\nAction: failed\nStatus: 5.1.3\n"
            "Diagnostic-Code: smtp; 553 http://www.spamhaus.org/query/bl?ip=192.0.2.1",
            "blocked",
        ),
        # the remote's own enhanced code beats the Status the reporting MTA wrote
        (
            "Final-Recipient: rfc822; {email}\nAction: failed\nStatus: 5.1.1\n"
            "Diagnostic-Code: smtp; 550 5.7.1 IP address blacklisted by recipient",
            "blocked",
        ),
        # a generic status: the words decide (Gmail's 4.0.0 for a domain that does not exist)
        (
            "Final-Recipient: rfc822; {email}\nAction: failed\nStatus: 4.0.0\nDiagnostic-Code: "
            "smtp; DNS Error: DNS type 'mx' lookup of example.org responded with code NXDOMAIN",
            "hard",
        ),
        # a local delivery program's output never invalidates
        (
            "Final-Recipient: rfc822; {email}\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: "
            'x-unix; procmail: Couldn\'t create "/var/mail/x": No such user',
            "soft",
        ),
        (
            "Final-Recipient: rfc822; {email}\nAction: expired\nStatus:\n"
            "Diagnostic-Code: Connection timed out",
            "soft",
        ),
        (
            "Final-Recipient: rfc822; {email}\nAction: failed\nStatus: smtp; 550 user unknown\n"
            "Diagnostic-Code: 5.1.1",
            "hard",
        ),
    ],
)
def test_it_reads_reports_that_bend_rfc_3464(item, fields, kind):
    assert bounces.parse(report(item, fields)).kind == kind


def test_a_report_without_recipient_fields_is_read_from_its_text(item):
    bounce = bounces.parse(
        report(
            item,
            "Arrival-Date: Tue, 1 Dec 2026 09:12:04 +0100",
            f"Delivery to the following recipients failed permanently:\n\n   * {item.email}\n",
        )
    )

    assert (bounce.item_id, bounce.kind) == (item.pk, "soft")


def test_a_specific_status_is_not_weighed_against_a_disclaimer(item):
    text = "Delivery failed.\n\n*** Scanned for viruses and spam by ExampleGuard ***\n"
    fields = "Final-Recipient: rfc822; {email}\nAction: failed\nStatus: 5.1.1"

    assert bounces.parse(report(item, fields, text)).kind == "hard"


def notice(item, sender: str, subject: str, body: str, return_path: str = "") -> bytes:
    path = f"Return-Path: {return_path}\n" if return_path else ""
    return crlf(f"""\
{path}From: {sender}
To: {verp(item)}
Subject: {subject}

{body.format(email=item.email)}
""")


@pytest.mark.parametrize(
    ("sender", "subject", "body", "kind"),
    [
        (
            "imss@example.org",
            "Mail could not be delivered",
            "****** Message from InterScan Messaging Security Suite ******\n\nSent <<< RCPT TO:"
            "<{email}>\nReceived >>> 550 5.1.1 <{email}>... User unknown\n\nUnable to deliver "
            "message to <{email}>.\n",
            "hard",
        ),
        (
            "<>",
            "Returned mail: see transcript for details",
            "   ----- The following addresses had permanent fatal errors -----\n<{email}>\n"
            "    (reason: 553 Sender Policy Framework (SPF) fail)\n\n   ----- Transcript -----\n"
            ">>> DATA\n<<< 553 Sender Policy Framework (SPF) fail\n550 5.1.1 <{email}>... User "
            "unknown\n",
            "blocked",
        ),
        (
            '<"System Administrator"@example.org>',
            "Delivery Failure",
            "Could not deliver message to the following recipient(s):\n\nFailed Recipient: "
            "{email}\nReason: Remote host said: 550 unknown user <{email}>\n",
            "hard",
        ),
        (
            "mailer-daemon",
            "There was an error sending your mail",
            "SMTP Server rejected recipient <{email}> (Error following RCPT command). It "
            "responded as follows: [550 5.1.1 User unknown]",
            "hard",
        ),
        (
            "post_master@sms.example.com",
            "Re: November news",
            "Error: Invalid user address\nError message below:\n550 - Requested action not "
            "taken: no such user here\n",
            "hard",
        ),
        (
            "E500_SMTP_Mail_Service@example.org",
            "Returned Mail - Error During Delivery",
            "------ Failed Recipients ------\n<{email}>: Requested action not taken: mailbox "
            "unavailable. [SMTP Error Code 550]\n",
            "soft",
        ),
    ],
)
def test_it_reads_gateways_and_old_servers_by_their_words(item, sender, subject, body, kind):
    bounce = bounces.parse(notice(item, sender, subject, body))

    assert (bounce.item_id, bounce.kind) == (item.pk, kind)


def test_the_worst_of_several_failed_recipients_is_kept(item):
    body = (
        "Hi. This is the qmail-send program at mx.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<{email}>:\nRemote host said: 552 5.2.2 Mailbox full\n\n"
        "<other.{email}>:\nRemote host said: 550 5.1.1 User unknown\n\n"
        "--- Below this line is a copy of the message.\n"
    )

    bounce = bounces.parse(notice(item, "MAILER-DAEMON@mx.example.net", "failure notice", body))

    assert bounce.kind == "hard"


@pytest.mark.parametrize(
    ("sender", "subject", "body", "return_path"),
    [
        # a person quoting a server's notice, from their own address
        (
            "jo@example.org",
            "failure notice",
            "Hi. I wasn't able to deliver your message: 550 5.1.1 user unknown",
            "<jo@example.org>",
        ),
        # an auto-reply with a null return path that says "undeliverable"
        (
            "jo@example.org",
            "Out of Office: November news",
            "I am out of the office; mail to me is undeliverable until Monday.",
            "<>",
        ),
        # a machine's notice that reports no failure
        ("noreply@example.org", "Your subscription", "Thank you for subscribing.", "<>"),
    ],
)
def test_what_only_looks_like_a_bounce_is_left_alone(item, sender, subject, body, return_path):
    assert bounces.parse(notice(item, sender, subject, body, return_path)) is None


def test_a_delay_said_only_in_the_subject_records_nothing(item):
    body = "[Status: Error, Address: <{email}>, ResponseCode 421, Host not reachable.]"
    subject = "Mail Delivery Status Notification (Delay)"

    bounce = bounces.parse(notice(item, "mailer-daemon@mail.example.com", subject, body))

    assert bounce.kind == "delayed"


def test_leading_blank_lines_before_the_headers_are_skipped(item):
    raw = report(item, "Final-Recipient: rfc822; {email}\nAction: failed\nStatus: 5.1.1")

    assert bounces.parse(b"\r\n \r\n" + raw).kind == "hard"


def test_a_multipart_whose_boundary_was_rewritten_is_split_at_the_one_it_uses(item):
    raw = report(item, "Final-Recipient: rfc822; {email}\nAction: failed\nStatus: 5.2.2")
    broken = raw.replace(b'boundary="R"', b'boundary="REWRITTEN"', 1)

    assert bounces.parse(broken).kind == "soft"


def test_a_success_notice_from_a_mail_system_is_left_alone(item):
    body = "Your message to {email} was delivered to the recipient's mailbox."
    subject = "Delivery Status Notification (Success)"

    assert bounces.parse(notice(item, "postmaster@example.org", subject, body, "<>")) is None


def test_a_notice_whose_only_words_name_the_cause_is_read(item):
    body = "You sent mail to {email}. That's not a valid user here."

    bounce = bounces.parse(notice(item, "<>", "", body))

    assert (bounce.item_id, bounce.kind) == (item.pk, "hard")


def test_the_returned_headers_after_a_notice_are_not_its_words(item):
    body = (
        "{email}\n  host mx.example.org[192.0.2.1]: 550 user unknown\n"
        "--- The header of the original message is following. ---\n"
        "X-Spam-Flag: blocked by nothing\nReceived: from sender.example.com\n"
    )
    subject = "Mail delivery failed: returning message to sender"

    bounce = bounces.parse(
        notice(item, "Mail Delivery System <mailer-daemon@example.net>", subject, body)
    )

    assert bounce.kind == "hard"
