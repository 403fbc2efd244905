"""Reports that bend RFC 3464, feedback-loop reports and auto-replies, for the bounce tests.

Gateways wrap reports in multipart/mixed, colleagues forward them, servers write
`Action: failure`, leave Status empty or send the returned message base64-encoded; mailbox
providers send ARF reports (RFC 5965) of spam complaints. Built like tests/tracking/
server_samples.py: each function takes the queue item and returns the whole message as bytes.
"""

import base64

from tests.tracking.dsn import original
from tests.tracking.server_samples import crlf, verp


def outlook_blocked_dsn(item):
    """An RFC 3464 report of a blocklisting: the address is fine."""
    return _dsn(
        item,
        "Action: failed\nStatus: 5.7.1\nDiagnostic-Code: smtp; 550 5.7.1 Unfortunately, "
        "messages from [192.0.2.1] weren't sent. Please contact your Internet service "
        "provider since part of their network is on our block list (S3150).",
    )


def _dsn(item, fields: str, *, returned: str | None = None, text: str = "", to: str = "") -> bytes:
    recipient = f"Final-Recipient: rfc822; {item.email}\n" if fields else ""
    returned = returned or f"Content-Type: message/rfc822\n\n{original(item)}"
    return crlf(f"""\
Return-Path: <>
To: {to or verp(item)}
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="R"

--R
Content-Type: text/plain

{text or "Your message could not be delivered."}

--R
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

{recipient}{fields}

--R
{returned}
--R--
""")


def dsn_action_with_comment(item):
    return _dsn(item, "Action: failed (Bad destination mailbox address)\nStatus: 5.1.1")


def dsn_action_failure(item):
    return _dsn(item, "Action: failure\nStatus: 5.1.1")


def dsn_status_from_diagnostic(item):
    return _dsn(item, "Action: failed\nDiagnostic-Code: smtp; 550 5.1.1 user unknown")


def dsn_empty_status(item):
    return _dsn(item, "Action: failed\nStatus: \nDiagnostic-Code: smtp; 550 No such user here")


def dsn_without_recipient_fields(item):
    text = f"<{item.email}>: host mx.example.org said: 550 5.1.1 User unknown"
    return _dsn(item, "", text=text)


def dsn_in_mixed(item):
    """A gateway wrapped the report in multipart/mixed (with a disclaimer)."""
    inner = _dsn(item, "Action: failed\nStatus: 5.2.2").decode()
    headers, _blank, body = inner.partition("\r\n\r\n")
    report_type = 'multipart/report; report-type=delivery-status; boundary="R"'
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: MAILER-DAEMON@gateway.example.net
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="G"

--G
Content-Type: text/plain

This message was scanned by the Example gateway.

--G
Content-Type: {report_type}

{body}
--G--
""")


def dsn_forwarded(item):
    """A colleague forwarded the report to the bounce mailbox as an attachment."""
    inner = _dsn(item, "Action: failed\nStatus: 5.1.1").decode().replace("\r\n", "\n")
    return crlf(f"""\
From: Colleague <colleague@example.com>
To: bounces@example.com
Subject: Fwd: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="F"

--F
Content-Type: text/plain

This came back to me, can you have a look?

--F
Content-Type: message/rfc822

{inner}
--F--
""")


def dsn_base64_returned(item):
    """The returned message comes back base64-encoded, as a message/rfc822 part so encoded
    (the X-Queue-Item-Id is only visible once decoded)."""
    encoded = base64.encodebytes(original(item).encode()).decode()
    part = f"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n{encoded}"
    return _dsn(item, "Action: failed\nStatus: 5.1.1", returned=part, to="news@example.com")


def qmail_base64_attachment(item):
    """A server notice with the returned message as a base64 attachment, no VERP."""
    encoded = base64.encodebytes(original(item).encode()).decode()
    return crlf(f"""\
Return-Path: <>
To: news@example.com
From: MAILER-DAEMON@mx1.example.net
Subject: failure notice
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="Q"

--Q
Content-Type: text/plain

Hi. This is the qmail-send program at mx1.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{item.email}>:
550 5.1.1 mailbox unavailable

--Q
Content-Type: application/octet-stream; name="message.eml"
Content-Disposition: attachment; filename="message.eml"
Content-Transfer-Encoding: base64

{encoded}
--Q--
""")


def arf(item, feedback_type: str = "abuse"):
    """A feedback-loop report (RFC 5965) of our message, as mailbox providers send it."""
    return crlf(f"""\
From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.example.net>
To: bounces@example.com
Subject: FW: November news
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"

--ARF
Content-Type: text/plain; charset="US-ASCII"

This is an email abuse report for an email message received from IP 192.0.2.1 on
Fri, 27 Nov 2026 10:00:00 +0000.

--ARF
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: Example-Mail-Feedback/1.0
Version: 1
Original-Mail-From: <{verp(item)}>
Arrival-Date: Fri, 27 Nov 2026 10:00:00 +0000
Source-IP: 192.0.2.1
Reported-Domain: example.com

--ARF
Content-Type: text/rfc822-headers

{original(item).partition(chr(10) + chr(10))[0]}

--ARF--
""")


def auto_reply(item):
    """An out-of-office reply to our message, quoting it and saying 'undeliverable'."""
    return crlf(f"""\
From: Jane Doe <{item.email}>
To: {verp(item)}
Subject: Automatic reply: Undeliverable? November news
Auto-Submitted: auto-replied

I am out of the office until Monday: delivery failed, mailbox full, 550 5.1.1.

> {original(item).replace(chr(10), chr(10) + "> ")}
""")


def qp_returned_headers(item):
    """The returned headers sent quoted-printable, the signed header's line broken softly."""
    token = original(item).split("X-Queue-Item-Id: ")[1].split("\n")[0]
    half = len(token) // 2
    headers = f"From: Newsletter <news@example.com>\nTo: {item.email}\nX-Queue-Item-Id: "
    headers += f"{token[:half]}=\n{token[half:]}\nSubject: November=20news\n"
    part = "Content-Type: text/rfc822-headers\nContent-Transfer-Encoding: quoted-printable\n\n"
    return _dsn(item, "Action: failed\nStatus: 5.1.1", returned=part + headers, to="n@example.com")
