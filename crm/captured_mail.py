"""Mail caught by the local SMTP capture (`manage.py smtp_capture`), kept as .eml files.

In development every message the product sends goes to this capture instead of the world; each
one becomes `<timestamp>-<n>.eml` in settings.SMTP_CAPTURE_DIR, and the admin lists them.
"""

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

SAFE_NAME = re.compile(r"^[\w.-]+\.eml$")
LIST_LIMIT = 200
_counter = itertools.count(1)


class CapturedMailNotFound(LookupError):
    """No captured message has that name."""


@dataclass
class CapturedMessage:
    name: str
    subject: str
    sender: str
    to: str
    date: datetime | None  # the Date header, else when the capture stored it
    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    html: str = ""
    marks: list[str] = field(default_factory=list)  # e.g. "Test send", from the markers


# Apps above crm register `marker(headers) -> label or ""` to tag captured messages (campaigns
# marks its test sends), since crm may not import them.
Marker = Callable[[EmailMessage], str]
_markers: list[Marker] = []


def register_marker(marker: Marker) -> None:
    """Register a function that reads a captured message's headers and returns a label."""
    if marker not in _markers:
        _markers.append(marker)


def _marks(headers: EmailMessage) -> list[str]:
    return [label for marker in _markers if (label := marker(headers))]


def store(directory: Path, raw: bytes, mail_from: str = "", rcpt_tos: tuple = ()) -> Path:
    """Write one received message to `directory` and return its path.

    The envelope sender and recipients go first as X-Envelope-* lines, so Bcc recipients show.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = directory / f"{stamp}-{next(_counter)}.eml"
    envelope = f"X-Envelope-From: {mail_from}\r\nX-Envelope-To: {', '.join(rcpt_tos)}\r\n"
    partial = path.with_suffix(".part")  # Renamed when complete, so readers never see half a file.
    partial.write_bytes(envelope.encode() + raw)
    partial.rename(path)
    return path


class CaptureHandler:
    """aiosmtpd handler that stores every message it receives in `directory`."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        raw = envelope.original_content or envelope.content
        store(self.directory, raw, envelope.mail_from or "", tuple(envelope.rcpt_tos))
        return "250 Message captured"


def _summary(path: Path) -> CapturedMessage:
    with path.open("rb") as handle:
        headers = BytesHeaderParser(policy=policy.default).parse(handle)
    return CapturedMessage(
        name=path.name,
        subject=str(headers.get("Subject", "")),
        sender=str(headers.get("From", "")),
        to=str(headers.get("To", "") or headers.get("X-Envelope-To", "")),
        date=_dated(str(headers.get("Date", ""))) or _stored_at(path),
        marks=_marks(headers),
    )


def _dated(header: str) -> datetime | None:
    """The Date header as an aware datetime (so pages show it in the reader's language)."""
    try:
        date = parsedate_to_datetime(header) if header else None
    except (TypeError, ValueError):
        return None
    return date if date is None or date.tzinfo else date.replace(tzinfo=UTC)


def _stored_at(path: Path) -> datetime | None:
    """When the capture stored `path`, read from its name (for mail without a Date header)."""
    try:
        stamp = datetime.strptime(path.name.partition("-")[0], "%Y%m%dT%H%M%S%f")
    except ValueError:
        return None
    return stamp.replace(tzinfo=UTC)


def list_messages(directory: Path, limit: int = LIST_LIMIT) -> list[CapturedMessage]:
    """The newest `limit` captured messages, newest first (headers only)."""
    if not directory.is_dir():
        return []
    paths = sorted(directory.glob("*.eml"), key=lambda p: p.name, reverse=True)[:limit]
    return [_summary(path) for path in paths]


def read_message(directory: Path, name: str) -> CapturedMessage:
    """One captured message with its headers and bodies; raises CapturedMailNotFound."""
    path = directory / name
    if not SAFE_NAME.match(name) or not path.is_file():
        raise CapturedMailNotFound(name)
    with path.open("rb") as handle:
        message: EmailMessage = BytesParser(policy=policy.default).parse(handle)
    captured = _summary(path)
    captured.headers = [(key, str(value)) for key, value in message.items()]
    captured.text = _content(message.get_body(preferencelist=("plain",)))
    captured.html = _content(message.get_body(preferencelist=("html",)))
    return captured


def _content(part: EmailMessage | None) -> str:
    if part is None:
        return ""
    try:
        return part.get_content()
    except (LookupError, UnicodeDecodeError):  # An unknown or lying charset: show what we can.
        return (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")
