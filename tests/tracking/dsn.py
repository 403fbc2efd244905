"""Delivery status notifications as mail servers send them, for the bounce tests.

`postfix_dsn` follows Postfix's layout (text part, message/delivery-status, the returned
message); `exim_headers_dsn` Exim's with text/rfc822-headers. The sample strings are shaped
on real reports, with our headers put in.
"""

from campaigns.authoring import tokens

ORIGINAL = """\
From: Newsletter <news@example.com>
To: {recipient}
Subject: November news
Message-ID: <item-{item}@example.com>
X-Queue-Item-Id: {header_token}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello, here is our news.
"""


def original(item, header_token: str | None = None) -> str:
    token = header_token or tokens.make(tokens.HEADER, item.pk)
    return ORIGINAL.format(recipient=item.email, item=item.pk, header_token=token)


def postfix_dsn(
    item,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "smtp; 550 5.1.1 <{email}>: Recipient address rejected: User unknown",
    header_token: str | None = None,
    to: str = "news@example.com",
    report_type: str = "message/delivery-status",
) -> bytes:
    """A Postfix non-delivery report for `item`, returning the original message whole."""
    text = f"""\
Return-Path: <>
Delivered-To: {to}
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="B0UND4RY"

This is a MIME-encapsulated message.

--B0UND4RY
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--B0UND4RY
Content-Description: Delivery report
Content-Type: {report_type}

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 4Xk2Lm1ab2z9sV
Arrival-Date: Fri, 27 Nov 2026 10:00:00 +0000 (UTC)

Final-Recipient: rfc822; {item.email}
Original-Recipient: rfc822;{item.email}
Action: {action}
Status: {status}
Remote-MTA: dns; mail.example.org
Diagnostic-Code: {diagnostic.format(email=item.email)}

--B0UND4RY
Content-Description: Undelivered Message
Content-Type: message/rfc822

{original(item, header_token)}
--B0UND4RY--
"""
    return text.replace("\n", "\r\n").encode()


def exim_headers_dsn(item, verp_token: str, status: str = "5.2.2") -> bytes:
    """An Exim-style report sent back to the VERP address, returning only the headers, and
    not ours: a relay dropped X-Queue-Item-Id."""
    return f"""\
Delivered-To: bounce+{verp_token}@bounces.example.com
Envelope-To: bounce+{verp_token}@bounces.example.com
From: Mail Delivery System <Mailer-Daemon@relay.example.net>
To: bounce+{verp_token}@bounces.example.com
Subject: Mail delivery failed: returning message to sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary=1701-3

--1701-3
Content-type: text/plain; charset=us-ascii

This message was created automatically by mail delivery software.

--1701-3
Content-type: message/delivery-status

Reporting-MTA: dns; relay.example.net

Action: failed
Final-Recipient: rfc822;{item.email}
Status: {status}

--1701-3
Content-type: text/rfc822-headers

From: Newsletter <news@example.com>
To: {item.email}
Subject: November news

--1701-3--
""".encode()
