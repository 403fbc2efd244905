"""A real SMTP server for tests (aiosmtpd, in-process, on a port of this run: tests.ports) that
counts what it gets.

It can be told to refuse chosen recipients (e.g. 550 or 451 at RCPT), to answer a recipient a
scripted sequence of replies (`script`: "421 …" twice, then accept; "DROP" hangs up while that
message is in flight), to defer a whole domain, to answer 421 to every MAIL FROM until told to
recover, like a server that is overloaded for a while, and to offer SMTPUTF8 (RFC 6531) or not.
"""

import logging
import threading
import time
from collections import Counter
from email import message_from_bytes

from aiosmtpd.controller import Controller

from tests.ports import server_port

# aiosmtpd logs every SMTP command at INFO; tests read counts, not logs.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def free_port() -> int:
    """A port for a server of ours, or where nothing listens: no other run takes it."""
    return server_port()


class CountingHandler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[str, str, bytes]] = []
        self.received: Counter[str] = Counter()
        self.sessions_with_mail: set[int] = set()
        self.mail_options: dict[str, list[str]] = {}  # by recipient: the MAIL FROM parameters
        self.refusals: dict[str, str] = {}
        self.scripts: dict[str, list[str]] = {}
        self.domain_refusals: dict[str, str] = {}
        self.closing: str = ""
        self.messages_per_session: int | None = None  # then 421 to MAIL, like many servers
        self.max_sessions: int | None = None  # then 421 to EHLO, like a relay's session cap
        self.open_sessions: set[int] = set()
        self.arrivals: list[float] = []  # when each message's final dot was answered
        self.pipelining = True  # advertise RFC 2920 PIPELINING, as Postfix and most MTAs do

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.open_sessions.add(id(session))
            if self.max_sessions is not None and len(self.open_sessions) > self.max_sessions:
                self.open_sessions.discard(id(session))
                server.transport.close()
                return ["421 4.7.0 Too many concurrent sessions from you"]
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.closing:
            return self.closing
        carried = getattr(session, "carried", 0)
        if self.messages_per_session is not None and carried >= self.messages_per_session:
            server.transport.close()
            return "421 4.7.0 Too many messages in this session"
        session.carried = carried + 1
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        address = address.lower()
        with self.lock:
            script = self.scripts.get(address)
            scripted = script.pop(0) if script else ""
        if scripted == "DROP":
            server.transport.close()  # the connection is lost while this message is in flight
            return "421 4.4.2 Connection dropped"
        refusal = (
            scripted
            or self.refusals.get(address)
            or self.domain_refusals.get(address.rpartition("@")[2])
        )
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        with self.lock:
            self.open_sessions.discard(id(session))
        return "221 Bye"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.arrivals.extend([time.monotonic()] * len(envelope.rcpt_tos))
            for recipient in envelope.rcpt_tos:
                self.messages.append((envelope.mail_from, recipient.lower(), envelope.content))
                self.received[recipient.lower()] += 1
                self.mail_options[recipient.lower()] = list(envelope.mail_options)
            self.sessions_with_mail.add(id(session))
        return "250 2.0.0 Message accepted"


class SmtpServer:
    """Start with `start()`, stop with `stop()`; `handler` holds what was received."""

    def __init__(self, smtputf8: bool = True) -> None:
        self.port = free_port()
        self.handler = CountingHandler()
        self.smtputf8 = smtputf8
        self._controller = self._new_controller()

    def _new_controller(self) -> Controller:
        return Controller(
            self.handler, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=self.smtputf8
        )

    def start(self) -> "SmtpServer":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def restart(self) -> None:
        """Stop (dropping every open session) and listen again on the same port, which no
        one else can take meanwhile (tests.ports)."""
        self.go_down()
        self.come_up()

    def go_down(self) -> None:
        """Stop listening (connections are refused) until `come_up()`."""
        self._controller.stop()

    def come_up(self) -> None:
        self._controller = self._new_controller()
        self._controller.start()

    # What tests read and set.
    @property
    def received(self) -> Counter:
        return self.handler.received

    @property
    def total(self) -> int:
        with self.handler.lock:
            return len(self.handler.messages)

    def messages_to(self, address: str) -> list:
        with self.handler.lock:
            return [
                message_from_bytes(data)
                for _sender, recipient, data in self.handler.messages
                if recipient == address.lower()
            ]

    def refuse(self, address: str, reply: str) -> None:
        self.handler.refusals[address.lower()] = reply

    def script(self, address: str, *replies: str) -> None:
        """Answer `address`'s next RCPTs with `replies` in turn ("DROP" hangs up), then accept."""
        with self.handler.lock:
            self.handler.scripts[address.lower()] = list(replies)

    def defer_domain(self, domain: str, reply: str = "450 4.7.1 Rate limited, try later") -> None:
        self.handler.domain_refusals[domain.lower()] = reply

    def answer_closing(self, reply: str = "421 4.3.2 Too busy, closing the channel") -> None:
        self.handler.closing = reply

    def recover(self) -> None:
        self.handler.closing = ""


def configure_system_smtp(port: int, host: str = "127.0.0.1") -> None:
    """Point the system SMTP settings (OutboundEmailSettings) at 127.0.0.1:`port`."""
    from crm.models import OutboundEmailSettings, Security

    settings_row = OutboundEmailSettings.load()
    settings_row.smtp_host = host
    settings_row.smtp_port = port
    settings_row.smtp_security = Security.NONE
    settings_row.smtp_username = ""
    settings_row.from_address = "news@example.com"
    settings_row.from_name = "News"
    settings_row.save()
