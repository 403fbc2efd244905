"""SMTP for the sending job: one connection per server and run, and what each failure means.

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
Opening the connection (security modes, login) is crm.smtp's job; this module reuses it.
"""

import re
import smtplib

from django.conf import settings
from django.utils.translation import gettext as _

from crm import addresses, smtp
from crm.models import EmailAccount, OutboundEmailSettings

# 421 means "service not available, closing channel".
CLOSING = 421
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


class Refusal(Exception):
    """A reply other than the one expected, at `stage` (mail, rcpt, data or end)."""

    def __init__(self, stage: str, code: int, words: bytes):
        super().__init__(stage, code, words)
        self.stage, self.code, self.words = stage, code, smtp.server_words(words)


def smtp_source(mass_email) -> OutboundEmailSettings | EmailAccount:
    """The SMTP account `mass_email` sends through: its own account, else the system settings."""
    if mass_email.smtp_account_id:
        return mass_email.smtp_account
    return OutboundEmailSettings.load()


class Exchange:
    """One message's SMTP transaction; `stage` tells how far it got when something broke.

    MAIL, RCPT and DATA go out together when the server offers PIPELINING (RFC 2920): two round
    trips instead of four. Raises Refusal for an unexpected reply, and what smtplib raises when
    the connection breaks (SMTPServerDisconnected, OSError).
    """

    def __init__(self, connection: smtplib.SMTP):
        self.connection = connection
        self.stage = "mail"
        self.mail_accepted = False  # after this, a drop means the message was in flight

    def run(self, sender: str, recipient: str, data: bytes, utf8: bool) -> None:
        connection = self.connection
        options = f" SIZE={len(data)}" if connection.has_extn("size") else ""
        if utf8:  # RFC 6531: the commands and the message may carry UTF-8
            options += " SMTPUTF8" + (" BODY=8BITMIME" if connection.has_extn("8bitmime") else "")
            connection.command_encoding = "utf-8"
        try:
            commands = [f"MAIL FROM:<{sender}>{options}", f"RCPT TO:<{recipient}>", "DATA"]
            if connection.has_extn("pipelining"):
                self._pipelined(commands)
            else:
                self._one_by_one(commands)
            self.stage = "end"
            body = re.sub(rb"(?m)^\.", b"..", data)  # dot-stuffing (RFC 5321 4.5.2)
            connection.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
            self._expect(250)
        finally:
            connection.command_encoding = "ascii"

    def _pipelined(self, commands: list[str]) -> None:
        self.connection.send("".join(f"{command}\r\n" for command in commands))
        mail = self._reply()
        self.mail_accepted = mail[0] == 250
        self.stage = "rcpt"
        rcpt = self._reply() if mail[0] != CLOSING else mail
        self.stage = "data"
        data = self._reply() if rcpt[0] != CLOSING else rcpt
        if data[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
            self.connection.send(b".\r\n")  # RFC 2920: a DATA accepted anyway must be ended
            self.connection.getreply()
        for stage, reply, expected in (("mail", mail, (250,)), ("rcpt", rcpt, (250, 251))):
            if reply[0] not in expected:
                self._refuse(stage, reply)
        if data[0] != 354:
            self._refuse("data", data)

    def _one_by_one(self, commands: list[str]) -> None:
        for stage, command, expected in zip(
            ("mail", "rcpt", "data"), commands, ((250,), (250, 251), (354,)), strict=True
        ):
            self.stage = stage
            self.connection.send(f"{command}\r\n")
            reply = self._reply()
            if reply[0] not in expected:
                self._refuse(stage, reply)
            self.mail_accepted = True

    def _reply(self) -> tuple[int, bytes]:
        code, words = self.connection.getreply()
        if code == CLOSING:
            self.connection.close()  # the server is closing the session; nothing more will come
        return code, words

    def _expect(self, code: int) -> None:
        reply = self._reply()
        if reply[0] != code:
            self._refuse(self.stage, reply)

    def _refuse(self, stage: str, reply: tuple[int, bytes]) -> None:
        if reply[0] != CLOSING and self.connection.sock is not None:
            try:
                self.connection.rset()  # clears the refused transaction for the next message
            except smtplib.SMTPServerDisconnected:
                self.connection.close()
        raise Refusal(stage, *reply)


class Transport:
    """One SMTP server for one run: connects on first use, reuses the session, reopens it a
    bounded number of times after drops.

    After a connection or configuration problem the transport stays broken for the rest of the
    run (`broken` holds the problem) so the job does not hammer a server that is down.
    """

    def __init__(self, source: OutboundEmailSettings | EmailAccount, timeout: float | None = None):
        self.source = source
        self.timeout = timeout or settings.SMTP_TIMEOUT
        self.broken: ConnectionProblem | None = None
        self.reconnects_left = RECONNECTS_PER_RUN
        self._connection: smtplib.SMTP | None = None
        self._opened = False
        self._carried = 0  # messages the current session has carried, whatever their fate

    def send(self, envelope_from: str, recipient: str | addresses.SmtpAddress, data: bytes) -> None:
        """Send one message; raises a SmtpProblem subclass when it was not accepted."""
        if self.broken:
            raise self.broken
        sender, rcpt = self._smtp_address(envelope_from), self._smtp_address(recipient)
        try:
            self._attempt(sender, rcpt, data)
        except _IdleClosed:
            # The server closed a session that sat idle: open a new one and try once more.
            self._drop()
            try:
                self._attempt(sender, rcpt, data)
            except _IdleClosed as exc:
                raise self._break(ConnectionProblem(str(self._failure(exc.__cause__)))) from exc

    def _attempt(self, sender: addresses.SmtpAddress, rcpt: addresses.SmtpAddress, data: bytes):
        connection = self._connected()
        utf8 = sender.needs_smtputf8 or rcpt.needs_smtputf8
        if utf8 and not connection.has_extn("smtputf8"):
            raise AddressRefused(
                _("The SMTP server does not accept international addresses (SMTPUTF8).")
            )
        exchange = Exchange(connection)
        try:
            exchange.run(sender.address, rcpt.address, data, utf8)
        except Refusal as refusal:
            raise self._refused(refusal, rcpt.address) from refusal
        except (smtplib.SMTPException, OSError) as exc:
            raise self._lost(exchange, exc) from exc
        except Exception as exc:  # noqa: BLE001  one message's surprise must not stop the run
            self._drop()
            raise MessageFailed(
                _("The message could not be sent: %(error)s")
                % {"error": f"{type(exc).__name__}: {exc}"}
            ) from exc
        finally:
            self._carried += 1

    def _smtp_address(self, address: str | addresses.SmtpAddress) -> addresses.SmtpAddress:
        if isinstance(address, addresses.SmtpAddress):
            return address  # already converted, once per message, by the renderer
        try:
            return addresses.for_smtp(address)
        except addresses.AddressError as exc:
            raise AddressRefused(str(exc)) from exc

    def _refused(self, refusal: Refusal, recipient: str) -> SmtpProblem:
        words = {"code": refusal.code, "words": refusal.words, "address": recipient}
        if refusal.code == CLOSING:
            self._drop()
            if refusal.stage == "mail" and self._carried == 0:
                message = _("The server is not accepting mail now: %(code)s %(words)s") % words
                return self._break(ConnectionProblem(message, refusal.code))
            if refusal.stage == "mail":
                return _IdleClosed()  # the session carried enough: this message in a new one
        if refusal.stage == "mail":
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

    def _lost(self, exchange: Exchange, exc: BaseException) -> Exception:
        self._drop()
        if not exchange.mail_accepted:
            if self._carried > 0:
                return _IdleClosed()
            return self._break(ConnectionProblem(str(self._failure(exc))))
        message = _(
            "The connection was lost while this message was being sent (%(stage)s): %(error)s"
        )
        return TemporaryRejection(message % {"stage": exchange.stage, "error": self._failure(exc)})

    def _connected(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        if self._opened:
            if self.reconnects_left <= 0:
                message = _(
                    "The server dropped the connection %(count)s times during this run; the "
                    "rest waits for the next run."
                )
                raise self._break(ConnectionProblem(message % {"count": RECONNECTS_PER_RUN}))
            self.reconnects_left -= 1
        self._opened, self._carried = True, 0
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
        self._connection = connection
        return connection

    def _failure(self, exc: BaseException | None) -> smtp.SmtpFailure:
        return smtp.failure_from(exc, self.source.smtp_host, self.source.smtp_port, self.timeout)

    def _break(self, problem: ConnectionProblem) -> ConnectionProblem:
        self.broken = problem
        self._drop()
        return problem

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()  # Already broken: closing the socket is all that is left.

    def close(self) -> None:
        """End the session politely (QUIT); safe to call more than once."""
        self._drop()


class _IdleClosed(Exception):
    """The server had closed the reused session before this message began."""


class Transports:
    """The transports of one run, one per SMTP account (None: the system settings)."""

    def __init__(self) -> None:
        self._by_account: dict[int | None, Transport] = {}

    def for_mass_email(self, mass_email) -> Transport:
        key = mass_email.smtp_account_id
        if key not in self._by_account:
            self._by_account[key] = Transport(smtp_source(mass_email))
        return self._by_account[key]

    def close(self) -> None:
        for transport in self._by_account.values():
            transport.close()
