"""The byte-level pieces of a mass email: header values, body encoding, attachments, multipart.

Everything fixed for a mass email is built once into a bytes %-format skeleton
(`message_skeleton`), the bodies' literal text already quoted-printable; per recipient only the
header values and the slot values are encoded and filled in, in one %-format. Lines end in CRLF.
"""

import binascii
import mimetypes
import secrets
import time
from datetime import UTC, datetime
from email.message import MIMEPart
from email.policy import SMTP
from email.utils import format_datetime

from crm.placeholders import header_safe

MAX_LINE = 78
# 42 bytes of UTF-8 make 56 base64 characters: "Subject: " plus one encoded word stays within 78.
WORD_BYTES = 42
QP_CONTENT = 75  # characters before a soft line break's "=" (76 in all, RFC 2045)


def new_boundary() -> str:
    """A random boundary; "=_" can appear in neither quoted-printable nor base64 bodies."""
    return f"=_mm_{secrets.token_hex(16)}"


def encoded_words(text: str) -> str:
    """`text` as RFC 2047 base64 encoded words, one per folded line; no character is split."""
    data = text.encode()
    words = []
    start = 0
    while start < len(data):
        end = min(start + WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte
            end -= 1
        encoded = binascii.b2a_base64(data[start:end], newline=False).decode("ascii")
        words.append(f"=?utf-8?b?{encoded}?=")
        start = end
    return "\r\n ".join(words)


def _fold(value: str, used: int) -> str | None:
    """ASCII `value` folded at spaces into lines of at most 78 characters; None if it cannot be."""
    lines: list[str] = []
    line = None
    limit = MAX_LINE - used
    for word in value.split(" "):
        if len(word) > 900:
            return None
        if line is None:
            line = word
        elif word and len(line) + 1 + len(word) > limit:
            lines.append(line)
            line, limit = word, MAX_LINE - 1
        else:
            line = f"{line} {word}"
    lines.append(line or "")
    return "\r\n ".join(lines)


def unstructured(value: str, name: str = "Subject") -> str:
    """A header value (such as a subject) that cannot add a header line: ASCII, folded, RFC 2047.

    CR, LF and other line breaks become spaces first, so no value can start a new header.
    """
    value = header_safe(value)
    if value.isascii() and "=?" not in value:
        folded = value if len(name) + 2 + len(value) <= MAX_LINE else _fold(value, len(name) + 2)
        if folded is not None:
            return folded
    return encoded_words(value)


def clean_address(address: str) -> str:
    """An address with every whitespace character (CR and LF included) removed."""
    return "".join(address.split())


def address(name: str, email: str) -> str:
    """`"Name" <email>` for a header: the name quoted, or RFC 2047 encoded when not ASCII."""
    email = clean_address(email)
    name = header_safe(name).strip()
    if not name:
        return email
    if name.isascii() and "=?" not in name:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{email}>'
    return f"{encoded_words(name)} <{email}>"


def ascii_domain(domain: str) -> str:
    """`domain` as an IDNA A-label (ASCII) where it can be, for header values."""
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def list_id(campaign_name: str, campaign_id: int, domain: str) -> str:
    """RFC 2919 List-Id: the campaign's name, and `campaign-<id>.<sender domain>`."""
    return address(campaign_name, f"campaign-{campaign_id}.{ascii_domain(domain)}")


def feedback_id(mass_email_id: int, campaign_id: int, campaign_type: str, domain: str) -> str:
    """Feedback-ID for mailbox providers' feedback loops, Gmail's `a:b:c:SenderId` form."""
    return f"m{mass_email_id}:c{campaign_id}:{campaign_type}:{ascii_domain(domain)}"


def _split_long(line: bytes, limit: int) -> list[bytes]:
    """`line` cut with soft breaks ("=" at 76) until the rest has at most `limit` characters,
    never inside an =XX escape (binascii leaves some hard lines at 77 characters)."""
    out = []
    while len(line) > limit:
        cut = QP_CONTENT
        while b"=" in line[cut - 2 : cut]:
            cut -= 1
        out.append(line[:cut] + b"=")
        line = line[cut:]
    out.append(line)
    return out


def qp_chunk(text: str) -> bytes:
    """A piece of a body as UTF-8 quoted-printable, lines of at most 76 characters.

    The piece ends with a soft line break unless `text` ends with CRLF, so pieces encoded
    separately (literals once, values per recipient) can simply be joined. `text` must use
    CRLF line breaks and hold no bare CR (binascii copies the first line break's style).
    """
    if not text:
        return b""
    hard_end = text.endswith("\r\n")
    encoded = binascii.b2a_qp((text if hard_end else text + "\r\n").encode(), istext=True)
    if not hard_end and len(encoded) <= QP_CONTENT + 2:  # one short line
        return encoded[:-2] + b"=\r\n"
    lines = encoded[:-2].split(b"\r\n")
    out = []
    for line in lines[:-1]:
        out += _split_long(line, QP_CONTENT + 1)
    out += _split_long(lines[-1], QP_CONTENT + 1 if hard_end else QP_CONTENT)
    return b"\r\n".join(out) + (b"\r\n" if hard_end else b"=\r\n")


def qp_value(text: str) -> bytes:
    """qp_chunk for a per-recipient value, skipping the encoder when the text needs none."""
    if len(text) <= QP_CONTENT and text.isascii() and text.isprintable() and "=" not in text:
        return text.encode("ascii") + b"=\r\n" if text else b""
    return qp_chunk(text)


_date_cache: list = [0, b""]


def date_now() -> bytes:
    """The Date header value for now, computed at most once a second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0], _date_cache[1] = (
            now,
            format_datetime(datetime.fromtimestamp(now, UTC)).encode("ascii"),
        )
    return _date_cache[1]


def attachment_part(filename: str, content: bytes) -> bytes:
    """A complete base64 attachment entity (headers, blank line, body), built once."""
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    maintype, subtype = content_type.split("/", 1)
    part = MIMEPart(policy=SMTP)
    part.set_content(
        content,
        maintype=maintype,
        subtype=subtype,
        disposition="attachment",
        filename=filename,
        params={"name": filename},  # older clients read the name from Content-Type
    )
    return part.as_bytes(policy=SMTP)


def text_part(subtype: str, body: bytes) -> bytes:
    """A quoted-printable UTF-8 text entity; `body` is its encoded %-format body."""
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii") + body


def literal(data: bytes) -> bytes:
    """`data` escaped for use inside a bytes %-format skeleton."""
    return data.replace(b"%", b"%%")


def multipart(subtype: str, parts: list[bytes]) -> bytes:
    """A multipart entity of `parts` (each headers + blank line + body) with a fresh boundary."""
    boundary = new_boundary().encode("ascii")
    out = [b'Content-Type: multipart/%s;\r\n boundary="%s"\r\n\r\n' % (subtype.encode(), boundary)]
    for part in parts:
        out.append(b"--%s\r\n%s\r\n" % (boundary, part))
    out.append(b"--%s--\r\n" % boundary)
    return b"".join(out)


def message_skeleton(
    header_lines: list[str], bodies: dict[str, bytes], attachments: list[bytes]
) -> bytes:
    """The whole message as a bytes %-format: headers, MIME-Version, then the body entity.

    `header_lines` are complete lines (without CRLF) that may hold %(name)s slots; `bodies` maps
    the text subtypes present ("plain", "html") to their encoded %-format bodies.
    """
    entities = [text_part(subtype, body) for subtype, body in bodies.items()]
    entity = entities[0] if len(entities) == 1 else multipart("alternative", entities)
    if attachments:
        entity = multipart("mixed", [entity, *(literal(part) for part in attachments)])
    head = "".join(f"{line}\r\n" for line in [*header_lines, "MIME-Version: 1.0"])
    return head.encode() + entity
