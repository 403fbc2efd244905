"""One SMTP session carrying a stream of messages: with PIPELINING, one round trip each.

RFC 2920 lets a client send a message's content, its final dot and the next message's MAIL,
RCPT and DATA in one write ("the actual transfer of message content is explicitly allowed to be
the first command in a group"). So a server tens of milliseconds away costs one round trip per
message instead of two (or four without pipelining). A server that does not offer PIPELINING
gets one command at a time.

The stream knows nothing of policy: it reports, per message it wrote, what the server said
(`Accepted`, a `Refusal` at a stage, or `Lost` when the session broke while the message was in
it). A message the stream never wrote is not reported: it stays with the caller. What each
answer means for the item (deferred, failed, a server problem) is campaigns.sending.transport's
business.
"""

import contextlib
import re
import smtplib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from crm import addresses
from crm.smtp import server_words

MAIL, RCPT, DATA, END, DOT, RSET = "mail", "rcpt", "data", "end", "dot", "rset"
# 421 means "service not available, closing channel": nothing more will come on this session.
CLOSING = 421
STUFFED_DOT = re.compile(rb"(?m)^\.")


@dataclass(eq=False)
class Letter:
    """One message on its way: the envelope in SMTP form, the bytes, and the caller's handle."""

    sender: addresses.SmtpAddress
    recipient: addresses.SmtpAddress
    data: bytes
    handle: object = None
    position: int = 0  # how many messages this session carried before this one
    codes: dict[str, int] = field(default_factory=dict)  # the replies so far, by stage
    words: dict[str, str] = field(default_factory=dict)

    @property
    def utf8(self) -> bool:
        return self.sender.needs_smtputf8 or self.recipient.needs_smtputf8

    @property
    def mail_accepted(self) -> bool:
        return self.codes.get(MAIL) == 250


@dataclass(frozen=True)
class Accepted:
    """The server took the message (250 to its final dot)."""


@dataclass(frozen=True)
class Refusal:
    """A reply other than the one expected, at `stage` (mail, rcpt, data or end)."""

    stage: str
    code: int
    words: str


@dataclass(frozen=True)
class Lost:
    """The session broke (or the server closed it) while this message was in it.

    `in_flight`: its MAIL had been accepted, so the server may have it in part or whole;
    otherwise nothing of it was taken and it can go out over another session as it is."""

    in_flight: bool
    error: BaseException | None = None


@dataclass(frozen=True)
class NeedsSmtpUtf8:
    """The message needs SMTPUTF8 (RFC 6531) and this server does not offer it; not sent."""


Answer = Accepted | Refusal | Lost | NeedsSmtpUtf8
Take = Callable[[bool], Letter | None]
Report = Callable[[Letter, Answer], None]


class Stream:
    """Sends letters from `take` over `connection` and reports each one's answer.

    `take(block)` gives the next letter, or None: with block=False, None only means none is
    ready now; with block=True, that the stream should end. `pace(letter)`, if given, may wait
    before the letter's content goes out: the moment the server takes the message. After `limit`
    letters the stream takes no more: the session has carried `limit` messages (the caller opens a
    new one).
    """

    def __init__(
        self,
        connection: smtplib.SMTP,
        carried: int = 0,
        limit: int | None = None,
        pace: Callable[[Letter], None] | None = None,
    ):
        self.connection = connection
        self.pace = pace  # called just before a letter's content goes out (a rate limit waits)
        self.limit = limit
        self.carried = carried  # messages the session carried, before this stream included
        self.closed = False  # the server closed the session, or it broke
        self.pipelining = connection.has_extn("pipelining")
        self._utf8 = connection.has_extn("smtputf8")
        self._size = connection.has_extn("size")
        self._eight_bit = connection.has_extn("8bitmime")
        self._expect: deque[tuple[str, Letter | None]] = deque()

    def run(self, take: Take, report: Report) -> None:
        """Send until `take` has nothing more, the limit is reached or the session ends.

        Raises nothing for SMTP or network trouble: the letters it concerned are reported
        `Lost` and `closed` is set. Anything else is raised after the letters in the session
        were reported `Lost`, so that none is left unaccounted for."""
        try:
            if self.pipelining:
                self._pipelined(take, report)
            else:
                self._one_by_one(take, report)
        except (smtplib.SMTPException, OSError) as exc:
            self._abandon(report, exc)
        except BaseException as exc:
            self._abandon(report, exc)
            raise

    # With PIPELINING: replies are read in the order the commands went out.
    def _pipelined(self, take: Take, report: Report) -> None:
        letter = self._next(take, True, report)
        if letter is None:
            return
        self._send(self._envelope(letter))
        while self._expect:
            stage, letter = self._expect[0]
            code, words = self._reply()
            self._expect.popleft()
            if code == CLOSING:
                self._closing(stage, letter, code, words, report)
                return
            if letter is not None and stage in (MAIL, RCPT, DATA):
                letter.codes[stage], letter.words[stage] = code, words
            if stage == DATA:
                self._after_data(letter, take, report)
            elif stage == END:
                report(letter, Accepted() if code == 250 else Refusal(END, code, words))
            if not self._expect:
                letter = self._next(take, True, report)
                if letter is not None:
                    self._send(self._envelope(letter))

    def _after_data(self, letter: Letter, take: Take, report: Report) -> None:
        """Its MAIL, RCPT and DATA are answered: send its content with the next envelope, or end
        the refused transaction (RSET) with the next envelope."""
        codes = letter.codes
        if codes[MAIL] == 250 and codes[RCPT] in (250, 251) and codes[DATA] == 354:
            if self.pace is not None:
                self.pace(letter)
            out = self._content(letter)
            self._expect.append((END, letter))
        else:
            refused = ((MAIL, (250,)), (RCPT, (250, 251)))
            stage = next((s for s, ok in refused if codes[s] not in ok), DATA)
            report(letter, Refusal(stage, codes[stage], letter.words[stage]))
            out = b""
            if codes[DATA] == 354:  # RFC 2920: a DATA accepted anyway must be ended
                out += b".\r\n"
                self._expect.append((DOT, letter))
            out += b"RSET\r\n"
            self._expect.append((RSET, None))
        following = self._next(take, False, report)
        if following is not None:
            out += self._envelope(following)
        self._send(out)

    # Without PIPELINING: one command, one reply.
    def _one_by_one(self, take: Take, report: Report) -> None:
        while (letter := self._next(take, True, report)) is not None:
            for stage, command in zip((MAIL, RCPT, DATA), self._commands(letter), strict=True):
                self._expect.append((stage, letter))
                self._send(command)
                code, words = self._reply()
                self._expect.popleft()
                if code == CLOSING:
                    return self._closing(stage, letter, code, words, report)
                letter.codes[stage], letter.words[stage] = code, words
                if code not in {MAIL: (250,), RCPT: (250, 251), DATA: (354,)}[stage]:
                    report(letter, Refusal(stage, code, words))
                    self._expect.append((RSET, None))
                    self._send(b"RSET\r\n")
                    self._reply()
                    self._expect.popleft()
                    break
            else:
                if self.pace is not None:
                    self.pace(letter)
                self._expect.append((END, letter))
                self._send(self._content(letter))
                code, words = self._reply()
                self._expect.popleft()
                if code == CLOSING:
                    return self._closing(END, letter, code, words, report)
                report(letter, Accepted() if code == 250 else Refusal(END, code, words))

    # The pieces.
    def _next(self, take: Take, block: bool, report: Report) -> Letter | None:
        while self.limit is None or self.carried < self.limit:
            letter = take(block)
            if letter is None:
                return None
            if letter.utf8 and not self._utf8:
                report(letter, NeedsSmtpUtf8())
                continue
            letter.position, letter.codes, letter.words = self.carried, {}, {}
            self.carried += 1
            return letter
        return None

    def _commands(self, letter: Letter) -> list[bytes]:
        options = f" SIZE={len(letter.data)}" if self._size else ""
        encoding = "ascii"
        if letter.utf8:  # RFC 6531: the commands and the message may carry UTF-8
            options += " SMTPUTF8" + (" BODY=8BITMIME" if self._eight_bit else "")
            encoding = "utf-8"
        return [
            f"MAIL FROM:<{letter.sender.address}>{options}\r\n".encode(encoding),
            f"RCPT TO:<{letter.recipient.address}>\r\n".encode(encoding),
            b"DATA\r\n",
        ]

    def _envelope(self, letter: Letter) -> bytes:
        self._expect.extend(((MAIL, letter), (RCPT, letter), (DATA, letter)))
        return b"".join(self._commands(letter))

    @staticmethod
    def _content(letter: Letter) -> bytes:
        body = STUFFED_DOT.sub(b"..", letter.data)  # dot-stuffing (RFC 5321 4.5.2)
        return body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n"

    def _send(self, data: bytes) -> None:
        self.connection.send(data)

    def _reply(self) -> tuple[int, str]:
        code, words = self.connection.getreply()
        return code, server_words(words)

    def _closing(self, stage: str, letter: Letter | None, code: int, words: str, report) -> None:
        """The server answered 421 and closes the session: this letter is refused at `stage`,
        those after it are lost before the server took them."""
        self.closed = True
        reported = set()
        if letter is not None and stage != DOT:
            report(letter, Refusal(stage, code, words))
            reported.add(id(letter))
        self._report_lost(report, None, reported)

    def _abandon(self, report: Report, error: BaseException) -> None:
        """The session broke: every letter still waiting for a reply is lost."""
        self.closed = True
        self._report_lost(report, error, set())

    def _report_lost(self, report: Report, error: BaseException | None, reported: set) -> None:
        while self._expect:
            stage, letter = self._expect.popleft()
            if letter is None or id(letter) in reported or stage == DOT:
                continue
            reported.add(id(letter))
            report(letter, Lost(in_flight=stage == END or letter.mail_accepted, error=error))
        with contextlib.suppress(OSError):  # already broken: the socket goes either way
            self.connection.close()
