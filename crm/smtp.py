"""Talking to the configured SMTP servers, and their errors in plain words.

`open_connection` is the one place that knows the security modes (none, STARTTLS, SSL) and the
login; the admin's "send test email" and the mass-email sender both use it. Every failure comes
out as SmtpFailure, whose message an administrator can act on and whose `temporary` flag says
whether trying again later, unchanged, may succeed.
"""

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from django.conf import settings
from django.utils.translation import gettext as _

from crm.models import EmailAccount, OutboundEmailSettings, Security
from crm.secrets import SecretUnreadable

SmtpSource = OutboundEmailSettings | EmailAccount


class SmtpFailure(Exception):
    """An SMTP conversation failed. str() is a sentence for the administrator.

    `code` is the server's reply code when it gave one; `temporary` is True for failures that may
    pass on a later attempt (4xx replies, refused connections, timeouts, dropped connections).
    """

    def __init__(self, message: str, *, code: int | None = None, temporary: bool = False):
        super().__init__(message)
        self.code = code
        self.temporary = temporary


def sender_of(source: SmtpSource) -> tuple[str, str]:
    """The (address, name) mail from `source` is sent from."""
    if isinstance(source, EmailAccount):
        return source.email_address, source.from_name
    return source.from_address, source.from_name


def open_connection(source: SmtpSource, timeout: float | None = None) -> smtplib.SMTP:
    """A connected, logged-in SMTP session for `source` (the system settings or an account).

    Honours the security mode and logs in when a user is set. `timeout` (seconds, default
    settings.SMTP_TIMEOUT) applies to every network operation. The caller must `quit()` it.
    Raises SmtpFailure, with the cause chained, for any network, TLS, or server refusal.
    """
    timeout = timeout or settings.SMTP_TIMEOUT
    host, port = source.smtp_host.strip(), source.smtp_port
    if not host:
        raise SmtpFailure(_("No SMTP host is configured."))
    connection = None
    try:
        password = source.smtp_password if source.smtp_username else ""
        if source.smtp_security == Security.SSL:
            connection = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            connection = smtplib.SMTP(host, port, timeout=timeout)
        if source.smtp_security == Security.STARTTLS:
            connection.starttls(context=ssl.create_default_context())
        if source.smtp_username:
            connection.login(source.smtp_username, password)
        return connection
    except SecretUnreadable as exc:
        _close(connection)
        raise SmtpFailure(
            _("The stored SMTP password cannot be read (SECRET_KEY changed?). Enter it again.")
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:
        _close(connection)
        raise failure_from(exc, host, port, timeout) from exc


def send_test_email(source: SmtpSource, to_address: str, timeout: float | None = None) -> None:
    """Send a short test message from `source` to `to_address`; raises SmtpFailure."""
    timeout = timeout or settings.SMTP_TIMEOUT
    from_address, from_name = sender_of(source)
    message = EmailMessage()
    message["Subject"] = _("Test email from Mass Email")
    message["From"] = formataddr((from_name, from_address)) if from_address else ""
    message["To"] = to_address
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=(from_address.partition("@")[2] or None))
    message.set_content(
        _("This is a test email. The SMTP settings of %(host)s:%(port)s work.")
        % {"host": source.smtp_host, "port": source.smtp_port}
    )
    connection = open_connection(source, timeout=timeout)
    try:
        connection.send_message(message, from_addr=from_address or None, to_addrs=[to_address])
    except (smtplib.SMTPException, OSError) as exc:
        raise failure_from(exc, source.smtp_host, source.smtp_port, timeout) from exc
    finally:
        _close(connection)


def _close(connection: smtplib.SMTP | None) -> None:
    if connection is None:
        return
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()  # The session is already broken; closing the socket is all that's left.


def server_words(error: bytes | str) -> str:
    text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
    return " ".join(text.split())


def failure_from(exc: BaseException, host: str, port: int, timeout: float) -> SmtpFailure:
    """An SmtpFailure explaining `exc` (an smtplib, ssl or socket error) in plain words."""
    where = f"{host}:{port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        address, (code, words) = next(iter(exc.recipients.items()))
        message = _("The server refused the recipient %(address)s: %(code)s %(words)s") % {
            "address": address,
            "code": code,
            "words": server_words(words),
        }
        return SmtpFailure(message, code=code, temporary=400 <= code < 500)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        message = _("The server refused the login: %(code)s %(words)s. Check user and password.")
        words = {"code": exc.smtp_code, "words": server_words(exc.smtp_error)}
        return SmtpFailure(message % words, code=exc.smtp_code)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        message = _("The server refused the sender %(address)s: %(code)s %(words)s") % {
            "address": exc.sender,
            "code": exc.smtp_code,
            "words": server_words(exc.smtp_error),
        }
        return SmtpFailure(message, code=exc.smtp_code, temporary=400 <= exc.smtp_code < 500)
    if isinstance(exc, smtplib.SMTPResponseException):
        message = _("The server answered %(code)s %(words)s") % {
            "code": exc.smtp_code,
            "words": server_words(exc.smtp_error),
        }
        return SmtpFailure(message, code=exc.smtp_code, temporary=400 <= exc.smtp_code < 500)
    return _network_failure(exc, where, timeout)


def _network_failure(exc: BaseException, where: str, timeout: float) -> SmtpFailure:
    if isinstance(exc, ConnectionRefusedError):
        message = _("Connection refused by %(where)s: no mail server listens there.")
        return SmtpFailure(message % {"where": where}, temporary=True)
    # smtplib reports a read timeout as SMTPServerDisconnected with the timeout as its context.
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        message = _("No answer from %(where)s within %(seconds)s seconds (timeout).")
        return SmtpFailure(message % {"where": where, "seconds": timeout}, temporary=True)
    if isinstance(exc, socket.gaierror):
        message = _("The host name in %(where)s cannot be resolved: %(reason)s")
        return SmtpFailure(message % {"where": where, "reason": exc.strerror})
    if isinstance(exc, ssl.SSLError):
        message = _(
            "TLS failed with %(where)s: %(reason)s. Check the security setting "
            "(SSL usually uses port 465, STARTTLS port 587)."
        )
        return SmtpFailure(message % {"where": where, "reason": exc.reason or exc})
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        message = _("The server %(where)s does not support this: %(reason)s")
        return SmtpFailure(message % {"where": where, "reason": exc})
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        message = _("The server %(where)s closed the connection unexpectedly: %(reason)s")
        return SmtpFailure(message % {"where": where, "reason": exc}, temporary=True)
    message = _("Network error talking to %(where)s: %(reason)s")
    return SmtpFailure(message % {"where": where, "reason": exc}, temporary=True)
