"""Reading delivery status notifications (RFC 3464) as servers really write them.

The delivery-status part is looked for wherever it is: at the top of a multipart/report, nested
in a multipart/mixed that a gateway or a forwarding client wrapped around it, or inside a
forwarded message/rfc822. Its fields are read leniently:

- Action: "failed", "failure", "fail", "error", "expired", with or without a trailing comment
  ("failed (Bad destination mailbox address)"); "delayed" is a warning; "delivered",
  "relayed" and "expanded" are successes;
- Status: the enhanced code, or the remote server's own one quoted in the Diagnostic-Code
  when it is of the same class and says more (or in the report's text next to the recipient);
- the kind: from the remote server's words first (see _kind()), then the code;
- the per-message and per-recipient blocks are told apart by their fields, not their order,
  so a report written in one block, or without per-recipient fields at all (read from its
  text), is still read; so is one sent as text/plain or in a multipart without boundaries.

parse_report() returns one Recipient per failed or delayed recipient, or None when the message
has no delivery-status part; an empty list when it has one that reports no failure or delay.
"""

import email
import re
from dataclasses import dataclass
from email.message import Message

from campaigns.sending.bounce_kinds import (
    BLOCKED,
    ENHANCED,
    HARD,
    SOFT,
    bounce_kind,
    codes_in,
    kind_by_words,
    refusal_stage,
    specific_status,
)
from tracking import notices

FAILED, DELAYED, OTHER = "failed", "delayed", "other"
REPORT_TYPES = ("message/delivery-status", "message/global-delivery-status")
RECIPIENT_FIELDS = ("final-recipient", "original-recipient", "action", "status", "diagnostic-code")
WORST_FIRST = {HARD: 0, BLOCKED: 1, SOFT: 2, None: 3}
ENCODED = ("base64", "quoted-printable")


@dataclass(frozen=True)
class Recipient:
    """One recipient a report names as failed or delayed."""

    action: str  # FAILED or DELAYED
    kind: str | None  # HARD, SOFT or BLOCKED for a failure; None for a delay
    status: str  # the enhanced status code, "" when the report gives none
    diagnostic: str  # the server's words
    address: str  # the recipient the report names, "" when it names none


# A delivery status sent as text/plain (some servers label it so): its typical fields.
STATUS_FIELDS = re.compile(r"^Action:[ \t]*\w", re.MULTILINE | re.IGNORECASE)
RECIPIENT_FIELD = re.compile(r"^(Final-Recipient|Original-Recipient|Status):", re.M | re.I)


def status_parts(message: Message) -> list[Message]:
    """Every delivery-status part of `message`, at any depth; failing those, a text/plain part
    of a delivery report that holds delivery-status fields."""
    parts = [part for part in message.walk() if part.get_content_type() in REPORT_TYPES]
    if parts or not says_report(message):
        return parts
    for part in message.walk():
        if part.get_content_maintype() in ("text", "multipart") and not part.is_multipart():
            text = _decoded_text(part)
            if STATUS_FIELDS.search(text) and RECIPIENT_FIELD.search(text):
                return [part]
    return []


def says_report(message: Message) -> bool:
    """Whether `message` calls itself a delivery report (multipart/report, delivery-status)."""
    for part in message.walk():
        if part.get_content_type() == "multipart/report":
            report_type = str(part.get_param("report-type", "") or "").lower()
            if report_type in ("delivery-status", "global-delivery-status", ""):
                return True
    return False


def _decoded_text(part: Message) -> str:
    raw = part.get_payload(decode=True)
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else ""


def parse_report(message: Message, text: str) -> list[Recipient] | None:
    """The failed and delayed recipients of the report in `message` (see the module); `text`
    is the report's human-readable text, where a missing status may be found."""
    parts = status_parts(message)
    if not parts:
        return None
    blocks = [block for part in parts for block in _blocks(part)]
    recipients = [block for block in blocks if _names_a_recipient(block)]
    if not recipients:
        recipients = [Message()]  # a report without per-recipient fields: its text decides
    found = [_recipient(block, text) for block in recipients]
    return [recipient for recipient in found if recipient is not None]


def worst(recipients: list[Recipient]) -> Recipient | None:
    """The recipient whose failure says most about the address; a delay only when no
    recipient failed."""
    failed = [r for r in recipients if r.action == FAILED]
    if failed:
        return min(failed, key=lambda recipient: WORST_FIRST[recipient.kind])
    return recipients[0] if recipients else None


def _blocks(part: Message) -> list[Message]:
    """The field blocks of a delivery-status part. Python splits message/delivery-status into
    blocks; the UTF-8 variant (RFC 6533), or one sent with an odd encoding, is split here."""
    payload = part.get_payload()
    encoding = str(part.get("Content-Transfer-Encoding") or "").strip().lower()
    if isinstance(payload, list) and all(isinstance(block, Message) for block in payload):
        if part.get_content_type() == "message/delivery-status" and encoding not in ENCODED:
            return payload
        text = "".join(inner.as_string() for inner in payload)
        if encoding in ENCODED:  # sent base64 or quoted-printable: Python split the encoding
            text = _decoded_text(_text_part(text, encoding))
    else:
        raw = part.get_payload(decode=True) or b""
        text = raw.decode("utf-8", errors="replace")
    return [_fields(chunk) for chunk in re.split(r"\r?\n[ \t]*\r?\n", text) if chunk.strip()]


def _text_part(text: str, encoding: str) -> Message:
    part = Message()
    part["Content-Transfer-Encoding"] = encoding
    part.set_payload(text)
    return part


def _fields(text: str) -> Message:
    return email.message_from_string(text.strip() + "\n")


def _names_a_recipient(block: Message) -> bool:
    return any(block.get(name) is not None for name in RECIPIENT_FIELDS)


def _action(block: Message) -> str:
    words = (block.get("Action") or "").strip().lower().split()
    word = words[0] if words else ""
    if word.startswith(("fail", "error", "undeliver", "bounce", "expire")):
        return FAILED
    if word.startswith("delay"):
        return DELAYED
    if word:
        return OTHER  # delivered, relayed, expanded, deliverable
    return ""


def _recipient(block: Message, text: str) -> Recipient | None:
    diagnostic = " ".join(str(block.get("Diagnostic-Code") or "").split())
    address = _address(block)
    about = notices.words_about(text, address)
    field = _code(str(block.get("Status") or ""))
    reply, told = codes_in(diagnostic or about or text)
    status = _chosen(field, told)
    action = _action(block)
    if action == OTHER or status.startswith("2"):
        return None
    if not action:  # no Action field: the codes and the words decide
        if not status and reply is None and not notices.says_failure(text):
            return None
        warning = notices.says_delay(text) and not (status or str(reply)).startswith("5")
        action = DELAYED if warning else FAILED
    if action == DELAYED:
        return Recipient(DELAYED, None, status, diagnostic, address)
    kind = _kind(field, diagnostic, about, text)
    return Recipient(FAILED, kind, status, diagnostic, address)


def _chosen(field: str, told: str | None) -> str:
    """The Status field, or the remote's own code quoted in the diagnostic when it is of the
    same class and says more (Status 5.1.1 made up by the reporting MTA, "550 5.7.1 … listed
    on …" from the remote)."""
    if not told or (field and told[0] != field[0]):
        return field
    return told if specific_status(told) or not specific_status(field) else field


def _says_something(words: str) -> bool:
    return codes_in(words) != (None, None) or kind_by_words(words) is not None


def _code(field: str) -> str:
    found = ENHANCED.search(field)
    return found.group(0) if found else ""


def _kind(field: str, diagnostic: str, about: str, text: str) -> str:
    """The failure's kind, from the remote server's words first:

    - a Diagnostic-Code quoting the remote's reply without an enhanced code of its own leaves
      the Status to the reporting MTA's guess from the reply code (sendmail turns a bare 550
      into 5.1.1), so the remote's words decide when they say anything;
    - without a Diagnostic-Code, a specific Status is weighed only against a reply the notice
      quotes next to the recipient, never against its other words (disclaimers, advice);
    - a generic Status (x.0.0; Gmail's 4.0.0 for a domain that does not exist) or none leaves
      it to the words;
    - a local delivery program's output (x-unix) is never proof that the address is bad.
    """
    stage = refusal_stage(diagnostic) or refusal_stage(about)
    if diagnostic:
        words = diagnostic
    elif specific_status(field):
        words = about if codes_in(about) != (None, None) else ""
    else:
        words = next((w for w in (about, text) if _says_something(w)), text)
    reply, told = codes_in(words)
    local = diagnostic.lower().startswith("x-unix")
    if diagnostic and told is None:
        by_words = kind_by_words(diagnostic)
        if by_words is not None:
            return SOFT if local and by_words == HARD else by_words
    status = _chosen(field, told)
    if status.endswith(".0.0"):
        status = ""
    kind = bounce_kind(reply, status or None, words, stage) or SOFT
    return SOFT if local and kind == HARD else kind


def _address(block: Message) -> str:
    for name in ("Original-Recipient", "Final-Recipient", "X-Actual-Recipient"):
        value = str(block.get(name) or "")
        address = value.partition(";")[2].strip() if ";" in value else value.strip()
        if "@" in address:
            return address.strip("<>")
    return ""
