"""The bounce corpus: real returned mail with the outcome each must get (tests/tracking/corpus).

`corpus/manifest.csv` lists every message once: its file, the outcome a reader must find
(hard, soft, blocked, complaint, or none: not a bounce, a delay warning, an auto-reply), the
failed recipient it names, and whether it belongs to the held-out part (scored only at the
end of a piece of work, never looked at while writing rules). Files under `own/` are
committed; the public ones are read from BOUNCE_CORPUS_DIR (default corpus/public/), laid out
as `<owner>+<repository>/<path>` at the commits corpus/README.md gives.

Each message is returned to one of our queue items as a real bounce would be: the address
the report was sent back to (its To, the original sender, quoted again in the returned
headers) becomes the item's signed VERP address (`returned_to`).
"""

import csv
import email
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email import policy
from email.utils import getaddresses
from pathlib import Path

from campaigns.authoring import tokens

CORPUS = Path(__file__).resolve().parent / "corpus"
MANIFEST = CORPUS / "manifest.csv"
OUTCOMES = ("hard", "soft", "blocked", "complaint", "none")
VERP_DOMAIN = "bounces.example.com"


@dataclass(frozen=True)
class Case:
    """One message of the corpus and what it must give."""

    path: str  # own/<name>.eml, or <owner>+<repository>/<path> under the public folder
    outcome: str  # one of OUTCOMES
    recipient: str  # the failed address the report names ("" when none)
    held_out: bool
    reads_as: str = ""  # the reader's answer when it is not the outcome (a known miss)
    note: str = ""

    @property
    def source(self) -> str:
        return "own" if self.path.startswith("own/") else self.path.split("/", 1)[0]


def public_folder() -> Path:
    return Path(os.environ.get("BOUNCE_CORPUS_DIR") or CORPUS / "public")


def cases(held_out: bool | None = None) -> list[Case]:
    """The manifest's cases; only the held-out part (or only the rest) when asked."""
    with MANIFEST.open(newline="", encoding="utf-8") as manifest:
        rows = list(csv.DictReader(line for line in manifest if not line.startswith("#")))
    found = [
        Case(
            row["path"],
            row["outcome"],
            row["recipient"],
            row["held_out"] == "1",
            row["reads_as"],
            row["note"],
        )
        for row in rows
    ]
    return [case for case in found if held_out is None or case.held_out == held_out]


def file_of(case: Case) -> Path:
    return CORPUS / case.path if case.source == "own" else public_folder() / case.path


def raw(case: Case) -> bytes | None:
    """The message's bytes as stored, or None when its public source is not on this machine."""
    path = file_of(case)
    return path.read_bytes() if path.is_file() else None


def verp_address(item_id: int) -> str:
    return f"bounce+{tokens.make_verp(item_id)}@{VERP_DOMAIN}"


def returned_to(message: bytes, item_id: int) -> bytes:
    """`message` as our bounce mailbox would hold it had it been a report on `item_id`: the
    address it was returned to (its To: the original envelope sender), wherever it appears,
    becomes the item's VERP address; a message without one gets the Delivered-To header our
    mailbox server adds."""
    message = message.lstrip()  # a stored copy's leading blank lines never came by SMTP
    verp = verp_address(item_id).encode()
    sender = _returned_to(message)
    if sender:
        found = re.compile(re.escape(sender.encode()), re.IGNORECASE)
        changed = found.sub(lambda _match: verp, message)
        if changed != message:
            return changed
    newline = b"\r\n" if b"\r\n" in message[:2000] else b"\n"
    return b"Delivered-To: " + verp + newline + message


def _returned_to(message: bytes) -> str:
    headers = email.message_from_bytes(message.split(b"\n\n", 1)[0], policy=policy.compat32)
    values = [str(value) for value in headers.get_all("To") or []]
    addresses = [address for _name, address in getaddresses(values) if "@" in address]
    return addresses[0] if addresses else ""


def outcome_of(bounce) -> str:
    """The outcome a parse() result records: a delay warning records nothing."""
    if bounce is None or bounce.kind == "delayed":
        return "none"
    return bounce.kind


def family(message: bytes) -> str:
    """The message's shape, for the score by kind: delivery-status (RFC 3464, wherever the
    part is), feedback-report (ARF) or text (a server's own format, or not a report)."""
    parsed = email.message_from_bytes(message, policy=policy.compat32)
    types = {part.get_content_type() for part in parsed.walk()}
    if types & {"message/delivery-status", "message/global-delivery-status"}:
        return "delivery-status"
    if "message/feedback-report" in types:
        return "feedback-report"
    return "text"


@dataclass
class Tally:
    """Right and wrong answers of one part of the corpus."""

    total: int = 0
    right: int = 0
    false_positives: int = 0  # not a bounce, recorded as one
    invalidated: int = 0  # a good address (soft, blocked or none) read as hard
    missed: int = 0  # a bounce or complaint recorded as nothing
    wrong_item: int = 0  # a bounce recorded on another item than the one it was returned to

    def add(self, expected: str, got: str, item_ok: bool) -> None:
        self.total += 1
        self.right += expected == got and item_ok
        self.false_positives += expected == "none" and got != "none"
        self.invalidated += got == "hard" and expected in ("soft", "blocked", "none")
        self.missed += expected != "none" and got == "none"
        self.wrong_item += got != "none" and not item_ok

    @property
    def percent(self) -> float:
        return 100.0 * self.right / self.total if self.total else 0.0


@dataclass
class Score:
    """The corpus score: overall, by expected outcome and by the message's shape."""

    all: Tally = field(default_factory=Tally)
    by_outcome: dict[str, Tally] = field(default_factory=dict)
    by_family: dict[str, Tally] = field(default_factory=dict)
    absent: int = 0  # public messages not on this machine
    wrong: list[tuple[Case, str, str]] = field(default_factory=list)  # (case, family, got)
    confusion: Counter = field(default_factory=Counter)  # (expected, got) -> count


ITEM_ID = 424242  # the queue item every corpus message is returned to


def score(chosen: Iterable[Case], parse: Callable[[bytes], object]) -> Score:
    """Read each case with `parse` (tracking.bounces.parse) and tally the answers."""
    result = Score()
    for case in chosen:
        message = raw(case)
        if message is None:
            result.absent += 1
            continue
        bounce = parse(returned_to(message, ITEM_ID))
        got = outcome_of(bounce)
        item_ok = got == "none" or bounce.item_id == ITEM_ID
        shape = family(message)
        for tally in (
            result.all,
            result.by_outcome.setdefault(case.outcome, Tally()),
            result.by_family.setdefault(shape, Tally()),
        ):
            tally.add(case.outcome, got, item_ok)
        result.confusion[(case.outcome, got)] += 1
        if case.outcome != got or not item_ok:
            result.wrong.append((case, shape, got))
    return result
