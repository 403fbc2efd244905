"""Email service providers' webhooks: their events feed the campaign log (through django-anymail).

When mail goes out through an ESP's SMTP relay (Amazon SES, Mailgun, SendGrid, Postmark, or any
other that django-anymail knows), the ESP reports what became of each message to anymail's
tracking webhook, /anymail/<esp>/tracking/ (mounted when ANYMAIL_WEBHOOK_SECRET is set; the
ESP must post with that basic-auth user:password, and ESPs that sign their posts are checked
with the key anymail asks for, e.g. ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY). anymail turns each
post into normalised events and sends the `tracking` signal, received here. Amazon SES posts
through SNS, and must publish the messages' original headers (where the id travels).

An event names its queue item by the signed token the message carried: in the ESP's metadata
(the header MassEmailSettings.esp makes the sender add: campaigns.authoring.rendering's
ESP_METADATA_HEADERS), or, for ESPs that
echo the message's headers or Message-ID, in those. A token that does not verify names nobody:
the event is ignored, as are events of no item of ours (the ESP's other mail). Failing a token,
the event's message id names the item sent through the ESP's API with that id
(EmailQueueItem.esp_message_id, campaigns.sending.esp), and its recipient which of the items
of a Mailgun batch call (one id for the call).

- bounced: a bounce, hard, soft or blocked by the SMTP codes and words in the ESP's report,
  by the same rule as returned mail (campaigns.sending.bounce_kinds: 5.1.1 hard, 4.x.x and 5.2.2
  soft, 5.7.x blocked); without a code, by the ESP's type (Postmark's SoftBounce and Amazon SES's
  Transient are soft; SendGrid's "blocked" and Postmark's ISPBlock, SpamNotification are
  blocked); hard when nothing says otherwise, as anymail's "bounced" means the ESP gave up.
- rejected because the ESP knows the address bounced or is invalid: a hard bounce.
- deferred (the ESP is still trying) and delivered, sent, queued: nothing.
- complained (marked as spam): the address is opted out of all mass email, and Opted Out logged.
- unsubscribed (the ESP's own unsubscribe link): the recipient is opted out as by our opt-out page.
- opened and clicked: recorded like our own pixel and links, machine rules included (the ESP's
  user agent is the visitor's); a click is matched to the campaign's tracking URL by our click
  link or by the stored address.
"""

import json
import logging
import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

from anymail.signals import EventType, RejectReason, tracking
from django.dispatch import receiver
from django.urls import Resolver404, resolve

from campaigns.authoring import tokens
from campaigns.authoring.mime import ascii_domain
from campaigns.authoring.rendering import ESP_METADATA_KEY
from campaigns.models import EmailQueueItem, TrackingUrl
from campaigns.sending.bounce_kinds import bounce_kind, codes_in
from tracking import bounces, feedback, recording
from tracking import opt_out as unsubscribing
from tracking.classification import HONEYPOT_URL_ID
from tracking.recording import Visit

logger = logging.getLogger(__name__)

ECHOED_TOKEN = re.compile(rf"(?:massmail\.|X-Queue-Item-Id\W+)({tokens.PATTERN})", re.IGNORECASE)
SOFT_ESP_TYPES = {"SoftBounce", "Transient"}  # Postmark's Type
# The receiving server refused the message, not the address: SendGrid's "blocked" bounce type,
# Postmark's SpamNotification/Blocked/ISPBlock/DMARCPolicy.
BLOCKED_ESP_TYPES = {"blocked", "Blocked", "ISPBlock", "SpamNotification", "DMARCPolicy"}
SOFT_DESCRIPTION = "Transient:"  # Amazon SES's bounceType, in anymail's description
HARD_REJECTIONS = {RejectReason.BOUNCED, RejectReason.INVALID}


@receiver(tracking, dispatch_uid="tracking.esp.record_event")
def record_event(sender, event, esp_name: str, **kwargs) -> None:
    """anymail's tracking signal: record one normalised ESP event (see the module)."""
    item = _item(event)
    if item is None:
        logger.debug("%s event %s names no queue item of ours", esp_name, event.event_type)
        return
    handler = HANDLERS.get(event.event_type)
    if handler is not None:
        handler(item, event)


def _item(event) -> EmailQueueItem | None:
    token = (event.metadata or {}).get(ESP_METADATA_KEY)
    candidates = [token] if isinstance(token, str) else []
    candidates += ECHOED_TOKEN.findall(_text(event.esp_event))
    items = EmailQueueItem.objects.select_related("mass_email__campaign")
    for candidate in candidates:
        ids = tokens.read_or_none(tokens.HEADER, candidate)
        if ids is None:
            continue  # forged, altered, or another kind of token
        return items.filter(pk=ids[0]).first()
    # Sent through the ESP's API: the ESP's message id was kept on the item. Mailgun's batch
    # call answers one id for all its recipients: the event's recipient says which.
    message_id = event.message_id if isinstance(event.message_id, str) else ""
    if not message_id:
        return None
    sharing = EmailQueueItem.objects.filter(esp_message_id=message_id).exclude(esp_message_id="")
    found = list(sharing.values_list("pk", "email")[:1000])  # only what picks the one
    if len(found) > 1 and isinstance(event.recipient, str):
        pk = next((pk for pk, email in found if _same_address(email, event.recipient)), None)
    else:
        pk = found[0][0] if found else None
    return items.filter(pk=pk).first() if pk is not None else None


def _same_address(stored: str, reported: str) -> bool:
    """The item's address as the ESP reports it (lower case, the domain perhaps in IDNA)."""
    local, _, domain = stored.rpartition("@")
    return reported.lower() in (stored.lower(), f"{local}@{ascii_domain(domain)}".lower())


def _text(esp_event) -> str:
    """The ESP's raw event as text, to find a token it echoes (a header, the Message-ID)."""
    if esp_event is None:
        return ""
    if hasattr(esp_event, "lists"):  # a QueryDict (form-encoded posts)
        return json.dumps(dict(esp_event.lists()))
    try:
        return json.dumps(esp_event, default=str)
    except (TypeError, ValueError):
        return str(esp_event)


def _bounced(item: EmailQueueItem, event) -> None:
    bounces.record(bounces.Bounce(item.pk, *esp_bounce_kind(event)))


def esp_bounce_kind(event) -> tuple[str, str, str]:
    """(kind, status, words) of an ESP's bounce event: by the SMTP codes and words in the
    ESP's report, as for returned mail (campaigns.sending.bounce_kinds); failing those, by the ESP's
    own bounce type; hard when it names none, as anymail's "bounced" means the ESP gave up."""
    words = " ".join(filter(None, [event.mta_response, event.description]))
    reply, enhanced = codes_in(words)
    esp_type = _esp_field(event.esp_event, "Type") or _esp_field(event.esp_event, "type")
    kind = bounce_kind(reply, enhanced, words) if (reply or enhanced) else None
    if kind is None and esp_type in BLOCKED_ESP_TYPES:
        kind = bounces.BLOCKED
    elif kind is None and (esp_type in SOFT_ESP_TYPES or _transient(event)):
        kind = bounces.SOFT
    return kind or bounce_kind(None, None, words) or bounces.HARD, enhanced or "", words[:500]


def _transient(event) -> bool:
    return (event.description or "").startswith(SOFT_DESCRIPTION)


def _rejected(item: EmailQueueItem, event) -> None:
    if event.reject_reason in HARD_REJECTIONS:
        bounces.record(bounces.Bounce(item.pk, bounces.HARD, ""))


def _complained(item: EmailQueueItem, event) -> None:
    """A spam complaint: no mass email goes to the address again, whatever the campaign."""
    feedback.record_complaint(item)


def _unsubscribed(item: EmailQueueItem, event) -> None:
    if not item.mass_email.campaign.is_informational:
        unsubscribing.opt_out(item, via="")


def _opened(item: EmailQueueItem, event) -> None:
    recording.record_open(item.pk, _visit(event))


def _clicked(item: EmailQueueItem, event) -> None:
    url_id = _tracking_url_id(item, event.click_url or "")
    if url_id == HONEYPOT_URL_ID:
        recording.record_trap(item, _visit(event))
    elif url_id is not None:
        recording.record_click(item.pk, url_id, _visit(event))


def _tracking_url_id(item: EmailQueueItem, url: str) -> int | None:
    """The campaign's tracking URL a clicked `url` stands for: our click link of this item, or
    a tracking URL's stored address when the ESP rewrote the link itself."""
    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        match = None
    if match is not None and match.view_name == "tracking:click":
        ids = tokens.read_or_none(tokens.CLICK, match.kwargs["token"], 2)
        return ids[1] if ids and ids[0] == item.pk else None
    links = TrackingUrl.objects.filter(campaign_id=item.mass_email.campaign_id, url=url)
    return links.values_list("pk", flat=True).first()


def _visit(event) -> Visit:
    at = event.timestamp or datetime.now(tz=UTC)
    return Visit(user_agent=(event.user_agent or "")[:300], client_hash="", at=at)


def _esp_field(esp_event, name: str) -> str:
    return esp_event.get(name, "") if isinstance(esp_event, dict) else ""


HANDLERS = {
    EventType.BOUNCED: _bounced,
    EventType.REJECTED: _rejected,
    EventType.COMPLAINED: _complained,
    EventType.UNSUBSCRIBED: _unsubscribed,
    EventType.OPENED: _opened,
    EventType.CLICKED: _clicked,
}
