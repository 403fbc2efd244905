"""One SMTP session of the sending job, and what each failure means.

A Transport is one session to one server: it opens on first use, carries a stream of messages
(campaigns.sending.smtp_stream: one round trip each when the server pipelines), is reopened
after `messages_per_session` messages, and after a drop a bounded number of times.

Every failure is sorted into what the job must do next:
- ConnectionProblem: the server, not a message, is the problem (connection refused, greeting,
  EHLO or a 421 before any message of the session, a timeout or drop before any message, too
  many drops in one run); nothing was sent, the item goes back to Pending without using an
  attempt, and the job stops using this server until its next run.
- ConfigurationProblem: the settings are wrong (no host, login refused, TLS mismatch, unreadable
  password, the sender refused with a 5xx); like a connection problem, reported as configuration.
- TemporaryRejection: this message was deferred: a 4xx to MAIL, RCPT or DATA (a 421 to RCPT or
  DATA included), or the connection lost while it was in flight. A 421 to MAIL once the session
  has carried messages closes that session only: the message goes out over a new one. The
  item uses an attempt and waits for its next attempt time (campaigns.sending.outcomes); the session
  is reopened for the next message, a bounded number of times per run.
- PermanentRejection: a 5xx reply for this recipient; the item fails with the server's words.
- AddressRefused: the address cannot be carried (not encodable, or a UTF-8 local part and a
  server without SMTPUTF8); the item fails, nothing was sent.
- MessageFailed: anything unexpected while sending this one message; it fails alone, and the
  session, whose state is unknown, is reopened for the next.
A message the session could not start (the server closed it while idle, or answered 421 to MAIL
once it had carried messages) is given back NOT_STARTED, to go out over another session without
using an attempt. Opening the connection (security modes, login) is crm.smtp's job.
"""

import smtplib
from collections.abc import Callable

from django.conf import settings
from django.utils.translation import gettext as _

from campaigns.sending.smtp_stream import (
    CLOSING,
    MAIL,
    Accepted,
    Answer,
    Letter,
    Lost,
    NeedsSmtpUtf8,
    Refusal,
    Stream,
    Take,
)
from crm import addresses, smtp
from crm.models import EmailAccount, OutboundEmailSettings

# How often a run may reopen a server's session after it dropped one in the middle of a message.
RECONNECTS_PER_RUN = getattr(settings, "MASS_EMAIL_RECONNECTS_PER_RUN", 10)


class SmtpProblem(Exception):
    """A failed SMTP exchange; str() is a sentence for the marketer, with the server's words."""

    def __init__(self, message: str, code: int | None = None, reply: str = ""):
        super().__init__(message)
        self.code = code
        self.reply = reply  # the server's reply as it gave it, e.g. "550 5.1.1 No such user"


class ConnectionProblem(SmtpProblem):
    """The server cannot be reached or dropped the session; nothing was sent."""


class ConfigurationProblem(ConnectionProblem):
    """The SMTP settings cannot work as they are (host, login, security, password, sender)."""


class TemporaryRejection(SmtpProblem):
    """The server deferred this message (4xx, or the connection dropped while it was sent)."""


class PermanentRejection(SmtpProblem):
    """The server refused this message for good (5xx)."""


class AddressRefused(SmtpProblem):
    """This address cannot be sent to through this server; nothing was sent."""


class MessageFailed(SmtpProblem):
    """An unexpected error while sending this message; nothing is known to have been sent."""


def smtp_source(mass_email) -> OutboundEmailSettings | EmailAccount:
    """The SMTP account `mass_email` sends through: its own account, else the system settings."""
    if mass_email.smtp_account_id:
        return mass_email.smtp_account
    return OutboundEmailSettings.load()


def smtp_address(address: str | addresses.SmtpAddress) -> addresses.SmtpAddress:
    """The address as SMTP carries it; raises AddressRefused when it cannot be carried."""
    if isinstance(address, addresses.SmtpAddress):
        return address  # already converted, once per message, by the renderer
    try:
        return addresses.for_smtp(address)
    except addresses.AddressError as exc:
        raise AddressRefused(str(exc)) from exc


class NotStarted(Exception):
    """Nothing of this message reached the server: it goes out over another session as it is."""


NOT_STARTED = NotStarted()
# done(letter, None) when accepted, NOT_STARTED, or the SmtpProblem that says what happened.
Done = Callable[[Letter, SmtpProblem | NotStarted | None], None]


class Transport:
    """One session to one SMTP server for one run.

    After a connection or configuration problem the transport stays broken for the rest of the
    run (`broken` holds the problem) so the job does not hammer a server that is down.
    """

    def __init__(self, source: OutboundEmailSettings | EmailAccount, timeout: float | None = None):
        self.source = source
        self.timeout = timeout or settings.SMTP_TIMEOUT
        self.messages_per_session = getattr(source, "messages_per_session", 0) or None
        self.broken: ConnectionProblem | None = None
        self.reconnects_left = RECONNECTS_PER_RUN
        self._connection: smtplib.SMTP | None = None
        self._dropped = False  # the last session ended by a drop: the next open is a reconnect
        self._carried = 0  # messages the current session has carried, whatever their fate

    def send(self, envelope_from: str, recipient: str | addresses.SmtpAddress, data: bytes) -> None:
        """Send one message; raises a SmtpProblem subclass when it was not accepted."""
        letter = Letter(smtp_address(envelope_from), smtp_address(recipient), data)
        answer = self._send_once(letter)
        if answer is NOT_STARTED:  # the server had closed the session while it sat idle
            answer = self._send_once(letter)
        if answer is NOT_STARTED:
            raise self._break(ConnectionProblem(_("The server closed every session it opened.")))
        if answer is not None:
            raise answer

    def _send_once(self, letter: Letter) -> SmtpProblem | NotStarted | None:
        pending, answers = [letter], []
        self.serve(
            lambda _block: pending.pop() if pending else None, lambda _l, a: answers.append(a)
        )
        return answers[0] if answers else NOT_STARTED

    def serve(self, take: Take, done: Done, pace=None) -> None:
        """Send letters from `take` until it gives None when asked to block; `done` is called once
        for every letter taken; `pace(letter)` just before each one's content goes out. Raises
        ConnectionProblem (or ConfigurationProblem) when this server cannot carry mail now; the
        letter that found it out is reported first."""
        if self.broken:
            raise self.broken
        taking = _Taking(take)
        while True:
            stream = Stream(self._connected(), self._carried, self.messages_per_session, pace)
            stream.run(taking, lambda letter, answer: done(letter, self._meaning(letter, answer)))
            self._carried = stream.carried
            if self.broken:
                self._drop()
                raise self.broken
            if stream.closed:
                self._drop(dropped=True)
            elif taking.ended:
                return
            else:  # the session carried `messages_per_session`: a fresh one, not a reconnect
                self._drop()

    def _meaning(self, letter: Letter, answer: Answer) -> SmtpProblem | NotStarted | None:
        if isinstance(answer, Accepted):
            return None
        if isinstance(answer, NeedsSmtpUtf8):
            return AddressRefused(
                _("The SMTP server does not accept international addresses (SMTPUTF8).")
            )
        if isinstance(answer, Refusal):
            return self._refused(answer, letter)
        return self._lost(answer, letter)

    def _refused(self, refusal: Refusal, letter: Letter) -> SmtpProblem | NotStarted:
        words = {"code": refusal.code, "words": refusal.words, "address": letter.recipient.address}
        if refusal.code == CLOSING and refusal.stage == MAIL:
            if letter.position == 0:
                message = _("The server is not accepting mail now: %(code)s %(words)s") % words
                return self._break(ConnectionProblem(message, refusal.code))
            return NOT_STARTED  # the session carried enough: this message in a new one
        if refusal.stage == MAIL:
            if 400 <= refusal.code < 500:
                message = _("The server deferred the message: %(code)s %(words)s") % words
                return TemporaryRejection(message, refusal.code)
            message = _("The server refused the sender: %(code)s %(words)s") % words
            return self._break(ConfigurationProblem(message, refusal.code))
        if 400 <= refusal.code < 500:
            message = _("The server deferred %(address)s: %(code)s %(words)s") % words
            return TemporaryRejection(message, refusal.code)
        message = _("The server refused %(address)s: %(code)s %(words)s") % words
        return PermanentRejection(message, refusal.code, f"{refusal.code} {refusal.words}")

    def _lost(self, lost: Lost, letter: Letter) -> SmtpProblem | NotStarted:
        error = lost.error
        # A ConnectionProblem here came from `pace`: the rate limiter could not be asked.
        expected = smtplib.SMTPException | OSError | ConnectionProblem
        if error is not None and not isinstance(error, expected):
            return MessageFailed(
                _("The message could not be sent: %(error)s")
                % {"error": f"{type(error).__name__}: {error}"}
            )
        if not lost.in_flight:
            if letter.position > 0:
                return NOT_STARTED
            return self._break(ConnectionProblem(str(self._failure(error))))
        message = _(
            "The connection was lost while this message was being sent (%(stage)s): %(error)s"
        )
        stage = "end" if letter.mail_accepted and len(letter.codes) == 3 else "rcpt"
        failure = self._failure(error) if error is not None else _("the server closed it")
        return TemporaryRejection(message % {"stage": stage, "error": failure})

    def _connected(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        if self._dropped:
            if self.reconnects_left <= 0:
                message = _(
                    "The server dropped the connection %(count)s times during this run; the "
                    "rest waits for the next run."
                )
                raise self._break(ConnectionProblem(message % {"count": RECONNECTS_PER_RUN}))
            self.reconnects_left -= 1
        self._carried = 0
        try:
            connection = smtp.open_connection(self.source, timeout=self.timeout)
            connection.ehlo_or_helo_if_needed()
        except smtp.SmtpFailure as exc:
            # Opening fails for the server, never for a recipient: a temporary failure (down,
            # timeout, 4xx greeting) waits for the next run, anything else is the settings.
            problem_class = ConnectionProblem if exc.temporary else ConfigurationProblem
            raise self._break(problem_class(str(exc), exc.code)) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise self._break(ConnectionProblem(str(self._failure(exc)))) from exc
        self._connection, self._dropped = connection, False
        return connection

    def _failure(self, exc: BaseException | None) -> smtp.SmtpFailure:
        return smtp.failure_from(exc, self.source.smtp_host, self.source.smtp_port, self.timeout)

    def _break(self, problem: ConnectionProblem) -> ConnectionProblem:
        self.broken = problem
        return problem

    def _drop(self, dropped: bool = False) -> None:
        connection, self._connection = self._connection, None
        self._dropped = self._dropped or dropped
        if connection is not None:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()  # Already broken: closing the socket is all that is left.

    def close(self) -> None:
        """End the session politely (QUIT); safe to call more than once."""
        self._drop()


class _Taking:
    """The caller's take(), noting when it had nothing more to give."""

    def __init__(self, take: Take):
        self.take, self.ended = take, False

    def __call__(self, block: bool) -> Letter | None:
        letter = self.take(block)
        self.ended = self.ended or (letter is None and block)
        return letter
