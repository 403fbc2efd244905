"""SMTP for the sending job: one connection per server and run, and what each failure means.

Every failure is sorted into what the job must do next:
- ConnectionProblem: nothing was sent for this item (refused or dropped connection, timeout,
  a 421 "closing"); the item goes back to Pending without using an attempt, and the job stops
  using this server until its next run.
- ConfigurationProblem: the settings are wrong (no host, login refused, TLS mismatch, unreadable
  password); like a connection problem for the items, but reported as a configuration error.
- TemporaryRejection: a 4xx reply for this message; the item is retried in a later run.
- PermanentRejection: a 5xx reply for this message; the item fails with the server's words.
Opening the connection (security modes, login) is crm.smtp's job; this module reuses it.
"""

import re
import smtplib

from django.conf import settings

from crm import smtp
from crm.models import EmailAccount, OutboundEmailSettings

# 421 means "service not available, closing channel": a server problem, not a recipient's.
CLOSING = 421


class SmtpProblem(Exception):
    """A failed SMTP exchange; str() is a sentence for the marketer, with the server's words."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class ConnectionProblem(SmtpProblem):
    """The server cannot be reached or dropped the session; nothing was sent."""


class ConfigurationProblem(ConnectionProblem):
    """The SMTP settings cannot work as they are (host, login, security, password)."""


class TemporaryRejection(SmtpProblem):
    """The server refused this message for now (4xx)."""


class PermanentRejection(SmtpProblem):
    """The server refused this message for good (5xx)."""


def smtp_source(mass_email) -> OutboundEmailSettings | EmailAccount:
    """The SMTP account `mass_email` sends through: its own account, else the system settings."""
    if mass_email.smtp_account_id:
        return mass_email.smtp_account
    return OutboundEmailSettings.load()


def classify(failure: smtp.SmtpFailure) -> SmtpProblem:
    """The problem class for an SmtpFailure raised by crm.smtp (or built from an smtplib error)."""
    message = str(failure)
    if failure.code == CLOSING or (failure.temporary and failure.code is None):
        return ConnectionProblem(message, failure.code)
    if failure.code is None or not 400 <= failure.code < 600:
        return ConfigurationProblem(message, failure.code)
    if failure.code < 500:
        return TemporaryRejection(message, failure.code)
    return PermanentRejection(message, failure.code)


def sendmail(connection: smtplib.SMTP, envelope_from: str, recipient: str, data: bytes) -> None:
    """`connection.sendmail` for one recipient, in two round trips instead of four when the
    server offers PIPELINING (RFC 2920): MAIL, RCPT and DATA go out together. Raises what
    smtplib.SMTP.sendmail raises, so errors are classified the same way either way."""
    connection.ehlo_or_helo_if_needed()
    if not connection.has_extn("pipelining"):
        connection.sendmail(envelope_from, [recipient], data)
        return
    size = f" SIZE={len(data)}" if connection.has_extn("size") else ""
    sender, rcpt = smtplib.quoteaddr(envelope_from), smtplib.quoteaddr(recipient)
    connection.send(f"MAIL FROM:{sender}{size}\r\nRCPT TO:{rcpt}\r\nDATA\r\n")
    mail = _reply(connection, smtplib.SMTPSenderRefused, envelope_from)
    rcpt_reply = _reply(connection, smtplib.SMTPDataError)
    data_reply = _reply(connection, smtplib.SMTPDataError)
    if data_reply[0] == 354 and (mail[0] != 250 or rcpt_reply[0] not in (250, 251)):
        connection.send(b".\r\n")  # RFC 2920: a DATA accepted anyway must still be ended
        connection.getreply()
    if mail[0] != 250:
        _reset(connection)
        raise smtplib.SMTPSenderRefused(*mail, envelope_from)
    if rcpt_reply[0] not in (250, 251):
        _reset(connection)
        raise smtplib.SMTPRecipientsRefused({recipient: rcpt_reply})
    if data_reply[0] != 354:
        _reset(connection)
        raise smtplib.SMTPDataError(*data_reply)
    body = re.sub(rb"(?m)^\.", b"..", data)
    connection.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    done = _reply(connection, smtplib.SMTPDataError)
    if done[0] != 250:
        _reset(connection)
        raise smtplib.SMTPDataError(*done)


def _reply(connection: smtplib.SMTP, error: type, *extra) -> tuple[int, bytes]:
    code, message = connection.getreply()
    if code == CLOSING:
        connection.close()  # The server is closing the session; the other replies will not come.
        raise error(code, message, *extra)
    return code, message


def _reset(connection: smtplib.SMTP) -> None:
    # RSET clears the refused transaction so the session can carry the next message; a server
    # that hangs up instead is reconnected to by Transport.send.
    try:
        connection.rset()
    except smtplib.SMTPServerDisconnected:
        connection.close()  # Transport.send opens a new session for the next message.


class Transport:
    """One SMTP server for one run: connects on first use, reuses the session, reconnects once.

    After a connection or configuration problem the transport stays broken for the rest of the
    run (`broken` holds the problem) so the job does not hammer a server that is down.
    """

    def __init__(self, source: OutboundEmailSettings | EmailAccount, timeout: float | None = None):
        self.source = source
        self.timeout = timeout or settings.SMTP_TIMEOUT
        self.broken: ConnectionProblem | None = None
        self._connection: smtplib.SMTP | None = None

    def send(self, envelope_from: str, recipient: str, data: bytes) -> None:
        """Send one message; raises a SmtpProblem subclass when it was not accepted."""
        if self.broken:
            raise self.broken
        try:
            self._send(envelope_from, recipient, data)
        except smtplib.SMTPServerDisconnected:
            # An idle session the server closed: open a new one and try this message once more.
            self._drop()
            try:
                self._send(envelope_from, recipient, data)
            except smtplib.SMTPServerDisconnected as exc:
                problem = ConnectionProblem(str(self._failure(exc)))
                self._break(problem)
                raise problem from exc

    def _send(self, envelope_from: str, recipient: str, data: bytes) -> None:
        connection = self._connected()
        try:
            sendmail(connection, envelope_from, recipient, data)
        except smtplib.SMTPServerDisconnected:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            problem = classify(self._failure(exc))
            if isinstance(problem, ConnectionProblem):
                self._break(problem)
            raise problem from exc

    def _connected(self) -> smtplib.SMTP:
        if self._connection is None:
            try:
                self._connection = smtp.open_connection(self.source, timeout=self.timeout)
            except smtp.SmtpFailure as exc:
                # Opening fails for the server, never for a recipient: a temporary failure (down,
                # timeout, 4xx greeting) waits for the next run, anything else is the settings.
                problem_class = ConnectionProblem if exc.temporary else ConfigurationProblem
                problem = problem_class(str(exc), exc.code)
                self._break(problem)
                raise problem from exc
        return self._connection

    def _failure(self, exc: BaseException) -> smtp.SmtpFailure:
        return smtp.failure_from(exc, self.source.smtp_host, self.source.smtp_port, self.timeout)

    def _break(self, problem: ConnectionProblem) -> None:
        self.broken = problem
        self._drop()

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
