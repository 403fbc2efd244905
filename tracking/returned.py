"""What a returned message holds: its notice's text, and the queue item of ours it names.

A report names one of our queue items by

- the VERP address it was sent back to (bounce+<signed id>@domain), in the recipient headers
  (Delivered-To, X-Original-To, Envelope-To, To…) of the report or of a report forwarded
  inside it, or anywhere in its text (the returned message's Return-Path); or
- the signed X-Queue-Item-Id header of the returned message: in a message/rfc822 or
  text/rfc822-headers part, in a part sent base64 or quoted-printable encoded (decoded here),
  even a message/rfc822 part so encoded, or quoted in the text ("> X-Queue-Item-Id: …").

Both are signed (campaigns.authoring.tokens): a token that does not verify names nobody. VERP tokens
verify whatever their letters' case, so an address lower-cased on the way back still counts.
"""

import base64
import binascii
import email
import quopri
import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message

from campaigns.authoring import tokens

VERP_ADDRESS = re.compile(rf"bounce\+({tokens.VERP_PATTERN})@", re.IGNORECASE)
ITEM_HEADER = re.compile(
    rf"^[>|: \t]*X-Queue-Item-Id:[ \t]*<?({tokens.PATTERN})", re.MULTILINE | re.IGNORECASE
)
RECIPIENT_HEADERS = (
    "Delivered-To",
    "X-Original-To",
    "Envelope-To",
    "X-Envelope-To",
    "X-Rcpt-To",
    "To",
    "Cc",
)
RETURNED_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers")
STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)
# Where a server's text notice starts quoting the returned message (qmail, Yahoo, Exim, Gmail,
# Sendmail, SMTP32…): what follows is returned text, not the server's words.
COPY_FOLLOWS = re.compile(
    r"^[ \t]*[-=*|]*[ \t]*(below (this|the next|the) line is a copy|this is a copy of the message"
    r"|original message( follows)?|(the )?original message (is )?(attached|follows)"
    r"|(the )?original message as received|returned message|unsent message below"
    r"|start of returned message|returned mail follows|header of the source mail"
    r"|your message reads \(in part\)|message header follows|(the )?header and top \d+ lines"
    r"|a summary of the undelivered message|old message|(the )?headers? of the original message"
    r"|original message is following)\b.*$"
    r"|\b(the )?first \d+ lines of (your|the) original message follows?:?"
    r"|^>[ \t]?(return-path|received|from|date|message-id|subject|to|x-[\w-]+):",
    re.IGNORECASE | re.MULTILINE,
)
# The first line of a multipart body that looks like a boundary: "--", a token, then a header.
BOUNDARY_LINE = re.compile(r"^--(\S{1,200}?)[ \t]*\r?\n(?=[A-Za-z-]+:)", re.MULTILINE)
MAX_PART = 2_000_000  # characters of one part searched; a returned attachment can be huge


@dataclass
class Contents:
    """A message taken apart once: the notice's words, and everything searched for our ids."""

    notice: list[str] = field(default_factory=list)  # the report's own human-readable text
    returned: list[str] = field(default_factory=list)  # returned messages and headers, decoded
    headers: list[Message] = field(default_factory=list)  # the report's and nested messages'
    item_headers: list[str] = field(default_factory=list)  # X-Queue-Item-Id values seen

    @property
    def notice_text(self) -> str:
        return "\n".join(self.notice)


def parsed(raw: bytes) -> Message:
    """The message in `raw`, read leniently: blank lines before its headers are skipped, and
    a multipart whose declared boundary never occurs is repaired (see repaired())."""
    return repaired(email.message_from_bytes(raw.lstrip(), policy=policy.compat32))


def repaired(part: Message) -> Message:
    """`part`, or when it is a multipart whose declared boundary never occurs (a gateway
    rewrote one of the two) the same part split at the boundary its body does use. One whose
    body uses no boundary at all stays as it is: its body is read as text."""
    if part.get_content_maintype() != "multipart" or part.is_multipart():
        return part
    body = part.get_payload()
    used = BOUNDARY_LINE.search(body) if isinstance(body, str) else None
    if used is None:
        return part
    part.set_boundary(used.group(1))
    return email.message_from_bytes(part.as_bytes(), policy=policy.compat32)


def contents(message: Message) -> Contents:
    """The message's parts decoded and sorted into notice and returned text."""
    found = Contents()
    _collect(message, found, returned=False)
    return found


def _collect(message: Message, found: Contents, returned: bool) -> None:
    message = repaired(message)
    found.headers.append(message)
    found.item_headers += [str(value) for value in message.get_all("X-Queue-Item-Id") or []]
    if message.is_multipart():
        _collect_parts(message.get_payload(), found, returned)
    else:
        _leaf(message, found, returned)


def _collect_parts(parts: list[Message], found: Contents, returned: bool) -> None:
    for part in parts:
        kind = part.get_content_type()
        if kind in STATUS_TYPES:
            continue  # read by tracking.dsn
        if part.is_multipart() and kind.startswith("message/"):
            for inner in _messages(part):
                _collect(inner, found, returned=True)
        elif kind.startswith("multipart/"):
            part = repaired(part)
            if part.is_multipart():
                _collect_parts(part.get_payload(), found, returned)
            else:
                _leaf(part, found, returned)
        else:
            _leaf(part, found, returned or kind in RETURNED_TYPES)


def _messages(part: Message) -> list[Message]:
    """The messages inside a message/* part; one sent base64 or quoted-printable encoded
    (against RFC 2046, but servers do) is decoded and parsed again."""
    inner = [payload for payload in part.get_payload() if isinstance(payload, Message)]
    encoding = str(part.get("Content-Transfer-Encoding") or "").strip().lower()
    if encoding not in ("base64", "quoted-printable") or not inner:
        return inner
    body = inner[0].as_string()
    try:
        raw = base64.b64decode(body) if encoding == "base64" else quopri.decodestring(body)
    except (binascii.Error, ValueError):
        return inner
    return [email.message_from_bytes(raw, policy=policy.compat32)]


def _leaf(part: Message, found: Contents, returned: bool) -> None:
    text = _decoded(part)[:MAX_PART]
    if returned or part.get_filename():
        found.returned.append(text)
    elif part.get_content_type() == "text/html":
        found.notice.append(TAGS.sub(" ", text))
    elif part.get_content_maintype() in ("text", "message", "multipart"):
        copy = COPY_FOLLOWS.search(text)
        found.notice.append(text[: copy.start()] if copy else text)
        if copy:
            found.returned.append(text[copy.end() :])
    else:
        found.returned.append(text)  # an attachment: maybe the returned message as a file


def _decoded(part: Message) -> str:
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


def item_id(found: Contents) -> int | None:
    """The queue item the message names: by VERP address first, then by the signed header;
    None when it carries no token of ours that verifies."""
    for message in found.headers:
        for header in RECIPIENT_HEADERS:
            for value in message.get_all(header) or []:
                if (verp := _first_verp(str(value))) is not None:
                    return verp
    for text in (*found.notice, *found.returned):
        if (verp := _first_verp(text)) is not None:
            return verp
    candidates = [token.strip().strip("<>") for token in found.item_headers]
    for text in (*found.returned, *found.notice):
        candidates += ITEM_HEADER.findall(text)
    for token in candidates:
        if token.isascii() and (ids := tokens.read_or_none(tokens.HEADER, token)):
            return ids[0]
    return None


def _first_verp(text: str) -> int | None:
    if "bounce+" not in text.lower():
        return None
    for token in VERP_ADDRESS.findall(text):
        if (found := tokens.read_verp(token)) is not None:
            return found
    return None
