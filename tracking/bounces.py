"""Returned mail: reading a delivery status notification, and recording the bounce it reports.

A bounce counts only when it is an RFC 3464 delivery status notification (multipart/report;
report-type=delivery-status) that names one of our queue items, by either

- the VERP address it was sent back to (bounce+<signed id>@domain, in To, Delivered-To,
  X-Original-To or Envelope-To), or
- the signed X-Queue-Item-Id header of the returned message (message/rfc822 or
  text/rfc822-headers part, or quoted anywhere in the report).

Both carry a signed token (campaigns.tokens), so a forged report cannot mark anybody's address.
The kind comes from the per-recipient Status code, not from keywords in the text: 5.x.x is a
hard bounce, 4.x.x a soft one. A report whose action is "delayed" is a warning that the server
is still trying: it is read, and recorded as nothing. Anything else (auto-replies, reports in a
vendor's own format, reports that name no item of ours) is left alone: parse() returns None.

Hard: log Bounced (Hard) and mark the address invalid, so no mass email goes to it again.
Soft: log Bounced (Soft) and count it on the address; at MassEmailSettings.soft_bounce_limit
soft bounces the address becomes invalid too. Test sends are logged, and change no address.
"""

import email
import re
from dataclasses import dataclass
from email import policy
from email.message import Message

from django.db import IntegrityError, transaction
from django.db.models import F

from campaigns import tokens
from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmailSettings
from crm.models import EmailAddress
from tracking import recording

HARD, SOFT, DELAYED = "hard", "soft", "delayed"
STATUS = re.compile(r"^\s*([245])\.\d{1,3}\.\d{1,3}")
TOKEN = f"({tokens.PATTERN})"
VERP_ADDRESS = re.compile(rf"bounce\+{TOKEN}@", re.IGNORECASE)
ITEM_HEADER = re.compile(rf"^X-Queue-Item-Id:[ \t]*{TOKEN}[ \t]*\r?$", re.MULTILINE | re.IGNORECASE)
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To")
REPORT_TYPES = ("message/delivery-status", "message/global-delivery-status")
RETURNED_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers")


@dataclass(frozen=True)
class Bounce:
    """What a delivery status notification says of one of our queue items."""

    item_id: int
    kind: str  # HARD, SOFT, or DELAYED (read, recorded as nothing)
    status: str  # the enhanced status code, e.g. "5.1.1"
    diagnostic: str = ""


def parse(raw: bytes) -> Bounce | None:
    """The bounce `raw` (a whole message) reports, or None when it is not one we can trust."""
    message = email.message_from_bytes(raw, policy=policy.compat32)
    if message.get_content_type() != "multipart/report":
        return None
    recipients = [block for part in _parts(message, REPORT_TYPES) for block in _blocks(part)]
    verdict = _verdict(recipients)
    if verdict is None:
        return None
    item_id = _item_id(message, raw)
    if item_id is None:
        return None
    kind, status, diagnostic = verdict
    return Bounce(item_id=item_id, kind=kind, status=status, diagnostic=diagnostic[:500])


def _parts(message: Message, content_types: tuple[str, ...]) -> list[Message]:
    return [part for part in message.walk() if part.get_content_type() in content_types]


def _blocks(part: Message) -> list[Message]:
    """The per-recipient field blocks of a delivery-status part (the first block is the
    per-message one). Python splits message/delivery-status into blocks; the UTF-8 variant
    (RFC 6533) it parses as one message, whose text is split here."""
    payload = part.get_payload()
    if part.get_content_type() == "message/delivery-status" and isinstance(payload, list):
        blocks = payload
    else:
        parsed = payload if isinstance(payload, list) else []
        text = "".join(inner.as_string() for inner in parsed) or str(payload)
        blocks = [email.message_from_string(chunk) for chunk in re.split(r"\r?\n\s*\r?\n", text)]
    return [block for block in blocks[1:] if block.get("Action") or block.get("Status")]


def _verdict(recipients: list[Message]) -> tuple[str, str, str] | None:
    """(kind, status, diagnostic) of the worst recipient block: a failure before a delay;
    None when no block reports a failure or a delay."""
    found = []
    for block in recipients:
        action = (block.get("Action") or "").strip().lower()
        status = STATUS.match(block.get("Status") or "")
        if status is None or action not in ("failed", "delayed"):
            continue  # delivered, relayed, expanded, or no status we can read
        code = status.group(0).strip()
        diagnostic = " ".join((block.get("Diagnostic-Code") or "").split())
        if action == "delayed":
            kind = DELAYED
        else:
            kind = HARD if code.startswith("5") else SOFT
        found.append((kind, code, diagnostic))
    order = {HARD: 0, SOFT: 1, DELAYED: 2}
    return min(found, key=lambda verdict: order[verdict[0]], default=None)


def _item_id(message: Message, raw: bytes) -> int | None:
    """The queue item the report names: by VERP address first, then by the returned header."""
    for header in RECIPIENT_HEADERS:
        for value in message.get_all(header) or []:
            for token in VERP_ADDRESS.findall(str(value)):
                if ids := tokens.read_or_none(tokens.VERP, token):
                    return ids[0]
    returned = [str(part) for part in _parts(message, RETURNED_TYPES)]
    text = raw.decode("utf-8", errors="replace")
    for source in (*returned, text):
        for token in ITEM_HEADER.findall(source):
            if ids := tokens.read_or_none(tokens.HEADER, token):
                return ids[0]
    return None  # no token, or only forged or foreign ones: it names nobody


def record(bounce: Bounce) -> bool:
    """Log the bounce and flag the address (see the module's docstring); False when there is
    nothing to record: a delay warning, an item that no longer exists, or a bounce of this kind
    already logged for the item (a report read twice)."""
    if bounce.kind == DELAYED:
        return False
    item = EmailQueueItem.objects.select_related("mass_email").filter(pk=bounce.item_id).first()
    if item is None:
        return False
    bounce_type = CampaignLogRecord.BounceType(bounce.kind)
    logged = recording.log_record(item, CampaignLogRecord.Action.BOUNCED, bounce_type=bounce_type)
    try:
        with transaction.atomic():
            logged.save()  # unique per item and bounce type: a second report stops here
            if not item.is_test and item.email_address_id:
                _flag_address(item.email_address_id, bounce.kind)
    except IntegrityError:
        return False
    return True


def _flag_address(address_id: int, kind: str) -> None:
    addresses = EmailAddress.objects.filter(pk=address_id)
    if kind == HARD:
        addresses.update(invalid=True)
        return
    addresses.update(soft_bounces=F("soft_bounces") + 1)
    limit = MassEmailSettings.load().soft_bounce_limit
    addresses.filter(soft_bounces__gte=limit).update(invalid=True)
