"""Feedback-loop complaints: a recipient pressed "this is spam" (ARF, RFC 5965).

Mailbox providers that run a feedback loop (Yahoo, Microsoft's JMRP, AOL, Comcast, Fastmail…)
send an abuse report to the address the sender registered: a multipart/report with
report-type=feedback-report, a message/feedback-report part (Feedback-Type: abuse) and our
message returned whole or as headers. Pointed at the bounce mailbox, such a report is read by
"Check Group Email Accounts" like a bounce, and counts when the returned message carries our
signed X-Queue-Item-Id: the address is opted out of all mass email and Opted Out is logged, as
for an ESP's complaint (tracking.esp). An "opt-out" report (the recipient asked to be taken
off, early ARF drafts) is one too. Reports of other types (not-spam, auth-failure, virus) are
not complaints: they are left alone.

Microsoft's older Junk Mail Reporting Program sent no ARF: its report ("complaint about
message from <IP>", from staff@hotmail.com) is the complained-of message itself, whole or
attached, carrying the X-HmXmrOriginalRecipient header Hotmail adds to it. Such a message is
read as an abuse report.
"""

from email.message import Message

from django.db import transaction

from campaigns.models import EmailQueueItem
from crm import events, suppression
from crm.models import EmailAddress
from tracking import opt_out as unsubscribing
from tracking.recording import event_of

FEEDBACK_TYPE = "message/feedback-report"
COMPLAINTS = ("abuse", "fraud", "opt-out", "optout")
JMRP_HEADER = "X-HmXmrOriginalRecipient"


def feedback_type(message: Message) -> str | None:
    """The Feedback-Type of the ARF report `message` is (lower case, "" when it gives none),
    "abuse" for a JMRP report without ARF, or None when it is not a feedback report."""
    report_type = str(message.get_param("report-type", "") or "").lower()
    parts = [part for part in message.walk() if part.get_content_type() == FEEDBACK_TYPE]
    if not parts and report_type != "feedback-report":
        return "abuse" if _jmrp(message) else None
    for part in parts:
        fields = part.get_payload()
        blocks = fields if isinstance(fields, list) else [part]
        for block in blocks:
            if isinstance(block, Message) and block.get("Feedback-Type"):
                return str(block["Feedback-Type"]).strip().lower()
        text = fields if isinstance(fields, str) else ""
        for line in text.splitlines():
            name, _colon, value = line.partition(":")
            if name.strip().lower() == "feedback-type":
                return value.strip().lower()
    return ""


def _jmrp(message: Message) -> bool:
    """A Junk Mail Reporting Program report: the message, or one attached to it, carries the
    header Hotmail adds to a message reported as junk."""
    if message.get(JMRP_HEADER):
        return True
    for part in message.walk():
        if part.get_content_type() == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            if isinstance(inner, Message) and inner.get(JMRP_HEADER):
                return True
    return False


def is_complaint(kind: str) -> bool:
    return kind in COMPLAINTS


def record_complaint(item: EmailQueueItem) -> None:
    """Opt the item's address out of all mass email, whatever the campaign, and log Opted Out
    once per item (not for an informational campaign, which has no opt-out); the stream hears
    of email.complained (test sends aside)."""
    with transaction.atomic():
        if item.email_address_id:
            chosen = EmailAddress.objects.filter(pk=item.email_address_id)
            suppression.flag_addresses(chosen, "opted_out", via="complaint")
        if not item.is_test:
            events.record_events([event_of(events.EMAIL_COMPLAINED, item)])
        if not item.mass_email.campaign.is_informational:
            unsubscribing.opt_out(item, via="", consent_method="complaint")
