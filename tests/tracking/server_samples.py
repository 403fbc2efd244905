"""Returned mail in the formats servers use, written for the bounce tests.

Each sample follows the public description of its server's notice (qmail's
"qmail-send program" text, Exim's "Mail delivery failed" with X-Failed-Recipients, Yahoo's
and AOL's MAILER-DAEMON text, Gmail's older text notices, Exchange 5.5's "did not reach the
following recipient(s)", Domino's "not listed in Domino Directory", MDaemon, IMail's SMTP32,
CommuniGate, GroupWise, Sendmail without DSN) and RFC 3464 reports that bend the standard as
gateways and forwarding clients do. Our message comes back in them as a real server returns
it: to our VERP address, with our signed X-Queue-Item-Id among the returned headers.

Every function takes the queue item and returns the whole message as bytes. Reports that bend
RFC 3464, feedback-loop reports and auto-replies are in report_samples.py.
"""

from campaigns.authoring import tokens
from tests.tracking.dsn import original


def verp(item) -> str:
    return f"bounce+{tokens.make_verp(item.pk)}@bounces.example.com"


def crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def qmail(item, reply: str = "550 5.1.1 <{email}>: Recipient address rejected: User unknown"):
    return crlf(f"""\
Return-Path: <>
Delivered-To: {verp(item)}
From: MAILER-DAEMON@mx1.example.net
To: {verp(item)}
Subject: failure notice
Date: Fri, 27 Nov 2026 10:00:00 -0000

Hi. This is the qmail-send program at mx1.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{item.email}>:
192.0.2.10 does not like recipient.
Remote host said: {reply.format(email=item.email)}
Giving up on 192.0.2.10.

--- Below this line is a copy of the message.

Return-Path: <{verp(item)}>
{original(item)}""")


def qmail_lower_cased(item):
    """qmail's notice to a VERP address a server lower-cased, without the returned message."""
    address = verp(item).lower()
    return crlf(f"""\
Return-Path: <>
Delivered-To: {address}
From: MAILER-DAEMON@mx1.example.net
To: {address}
Subject: failure notice

Hi. This is the qmail-send program at mx1.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{item.email}>:
Sorry, I couldn't find any host named nowhere.example. (#5.1.2)

--- Below this line is a copy of the message.
""")


def exim_text(item, reply: str = "552 5.2.2 Mailbox full: quota exceeded"):
    return crlf(f"""\
Return-path: <>
Envelope-to: {verp(item)}
From: Mail Delivery System <Mailer-Daemon@relay.example.net>
To: {verp(item)}
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: {item.email}
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {item.email}
    host mx.example.org [192.0.2.20]
    SMTP error from remote mail server after RCPT TO:<{item.email}>:
    {reply}

------ This is a copy of the message, including all the headers. ------

Return-path: <{verp(item)}>
{original(item)}""")


def exim_delay_warning(item):
    return crlf(f"""\
Return-path: <>
Envelope-to: {verp(item)}
From: Mail Delivery System <Mailer-Daemon@relay.example.net>
To: {verp(item)}
Subject: Warning: message 1tAbCd-0001Xy-2Q delayed 24 hours
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on relay.example.net.

The message identifier is:     1tAbCd-0001Xy-2Q
The subject of the message is: November news

The address to which the message has not yet been delivered is:

  {item.email}
    host mx.example.org [192.0.2.20]
    Delay reason: SMTP error from remote mail server after RCPT TO:<{item.email}>:
    451 4.7.1 Greylisted, please try again later

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals if the message
remains undelivered. Eventually the mail delivery software will give up,
and when that happens, the message will be returned to you.
""")


def yahoo(item):
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: MAILER-DAEMON@yahoo.com
Subject: Failure Notice

Sorry, we were unable to deliver your message to the following address.

<{item.email}>:
554: delivery error: dd This user doesn't have a yahoo.com account ({item.email}) [0]

--- Below this line is a copy of the message.

{original(item)}""")


def gmail_text(item, reply: str):
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
Subject: Delivery Status Notification (Failure)
Content-Type: text/plain; charset=ISO-8859-1

This is an automatically generated Delivery Status Notification

Delivery to the following recipient failed permanently:

     {item.email}

Technical details of permanent failure:
Google tried to deliver your message, but it was rejected by the server for the recipient
domain example.org by mx.example.org. [192.0.2.30].

The error that the other server returned was:
{reply}

----- Original message -----

{original(item)}""")


def gmail_delayed(item):
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
Subject: Delivery Status Notification (Delay)

This is an automatically generated Delivery Status Notification

THIS IS A WARNING MESSAGE ONLY.

YOU DO NOT NEED TO RESEND YOUR MESSAGE.

Delivery to the following recipient has been delayed:

     {item.email}

Message will be retried for 2 more day(s)

Technical details of temporary failure:
The recipient server did not accept our requests to connect.
[mx.example.org. (10): Connection timed out]

----- Original message -----

{original(item)}""")


def exchange_55(item):
    """Exchange 5.5's NDR: multipart/mixed, the text notice and the message attached."""
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: System Administrator <postmaster@corp.example.org>
Subject: Undeliverable: November news
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="----_=_NextPart_000_01C0A1B2.3C4D5E60"

------_=_NextPart_000_01C0A1B2.3C4D5E60
Content-Type: text/plain; charset="iso-8859-1"

Your message

  To:      {item.email}
  Subject: November news
  Sent:    Fri, 27 Nov 2026 10:00:00 +0100

did not reach the following recipient(s):

{item.email} on Fri, 27 Nov 2026 10:00:05 +0100
    The recipient name is not recognized
    The MTS-ID of the original message is: c=us;a= ;p=corp;l=MAIL01-261127090005Z-12
    MSEXCH:IMS:Corp:Site:MAIL01 0 (000C05A6) Unknown Recipient

------_=_NextPart_000_01C0A1B2.3C4D5E60
Content-Type: message/rfc822

{original(item)}
------_=_NextPart_000_01C0A1B2.3C4D5E60--
""")


def domino(item):
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: Postmaster@notes.example.org
Subject: DELIVERY FAILURE: User jdoe ({item.email}) not listed in Domino Directory
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="0__=DOMINO"

--0__=DOMINO
Content-Type: text/plain; charset=US-ASCII

Your message

  Subject: November news

was not delivered to:

  {item.email}

because:

  User jdoe ({item.email}) not listed in Domino Directory

--0__=DOMINO
Content-Type: message/rfc822

{original(item)}
--0__=DOMINO--
""")


def mdaemon(item):
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: MDaemon@mail.example.org
Subject: Permanent Delivery Failure
X-MDaemon-Deliver-To: {verp(item)}

The attached message had PERMANENT fatal delivery errors!

After one or more unsuccessful delivery attempts the attached message has
been removed from the mail queue on this server.

--- Session Transcript ---
 Fri 2026-11-27 10:00:01: Attempting SMTP connection to [mx.example.org : 25]
 Fri 2026-11-27 10:00:02: --> RCPT To:<{item.email}>
 Fri 2026-11-27 10:00:02: <-- 550 5.1.1 <{item.email}>... User unknown
--- End Transcript ---

{original(item)}""")


def smtp32(item):
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: Postmaster@imail.example.org
Subject: Undeliverable Mail
X-Mailer: <SMTP32 v8.22>

Delivery failed 1 attempts
RCPT TO:<{item.email}>
550 5.2.1 <{item.email}>... Mailbox disabled for this recipient

Original message follows.

{original(item)}""")


def communigate(item):
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: MAILER-DAEMON@cgp.example.org
Subject: Undeliverable mail: Failed to deliver to '<{item.email}>'

Failed to deliver to '<{item.email}>'
LOCAL module(account jdoe) reports:
 account is full (quota exceeded)

{original(item)}""")


def sendmail_text(item, reason: str = "550 5.1.1 <{email}>... User unknown"):
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: Mail Delivery Subsystem <MAILER-DAEMON@smtp.example.org>
Subject: Returned mail: see transcript for details
Auto-Submitted: auto-generated (failure)

The original message was received at Fri, 27 Nov 2026 10:00:00 +0100
from relay.example.com [192.0.2.1]

   ----- The following addresses had permanent fatal errors -----
<{item.email}>
    (reason: {reason.format(email=item.email)})

   ----- Transcript of session follows -----
... while talking to mx.example.org.:
>>> RCPT To:<{item.email}>
<<< {reason.format(email=item.email)}

   ----- Original message follows -----

{original(item)}""")


def aol(item):
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: Mail Delivery Subsystem <MAILER-DAEMON@aol.com>
Subject: Returned mail: User unknown

The original message was received at Fri, 27 Nov 2026 05:00:00 -0500 (EST)
from relay.example.com [192.0.2.1]

   ----- The following addresses had permanent fatal errors -----
<{item.email}>

   ----- Transcript of session follows -----
... while talking to air-yb01.mail.aol.com.:
>>> RCPT To:<{item.email}>
<<< 550 MAILBOX NOT FOUND
550 <{item.email}>... User unknown

   ----- Original message follows -----

{original(item)}""")


def groupwise(item):
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: Postmaster@gw.example.org
Subject: Message status - undeliverable
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="GW"

--GW
Content-Type: text/plain; charset=us-ascii

The message that you sent was undeliverable to the following:
\t{item.email} (user not found)

Possible causes:
\tThe e-mail address was misspelled.

--GW
Content-Type: message/rfc822

{original(item)}
--GW--
""")


def netscape_quota(item):
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: Mail Administrator <Postmaster@ms.example.org>
Subject: Mail System Error - Returned Mail
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="NS"

--NS
Content-Type: text/plain

This Message was undeliverable due to the following reason:

One or more of the recipients of your message did not receive it because they would
have exceeded their mailbox size limit.

<{item.email}>

--NS
Content-Type: message/rfc822

{original(item)}
--NS--
""")


def domino_old(item):
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: Postmaster@notes.example.org
Subject: Delivery Failure Report
Content-Type: text/plain

Your document: November news
was not delivered to: {item.email}
because: User jdoe ({item.email}) not listed in public Name & Address Book

What should you do?
You can resend the document to the recipient(s).

{original(item)}""")


def postfix_text(item):
    """Postfix before DSNs: a text notice with the message below it."""
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender

This is the Postfix program at host mx.example.net.

I'm sorry to have to inform you that the message returned
below could not be delivered to one or more destinations.

\t--- Delivery error report follows ---

<{item.email}>: unknown user: "jdoe"

\t--- Undelivered message follows ---

{original(item)}""")


def qmail_no_mailbox(item):
    return qmail(item).replace(
        b"192.0.2.10 does not like recipient.\r\nRemote host said: ",
        b"Sorry, no mailbox here by that name. (#5.1.1)\r\nRemote host said: ",
    )


def sendmail_warning(item):
    return crlf(f"""\
Return-Path: <>
To: {verp(item)}
From: Mail Delivery Subsystem <MAILER-DAEMON@smtp.example.org>
Subject: Warning: could not send message for past 4 hours

    **********************************************
    **      THIS IS A WARNING MESSAGE ONLY      **
    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **
    **********************************************

The original message was received at Fri, 27 Nov 2026 06:00:00 +0100
from relay.example.com [192.0.2.1]

   ----- Transcript of session follows -----
<{item.email}>... Deferred: Connection timed out with mx.example.org.
Warning: message still undelivered after 4 hours
Will keep trying until message is 5 days old

   ----- Original message follows -----

{original(item)}""")
