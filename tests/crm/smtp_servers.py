"""Real SMTP servers for the crm tests: aiosmtpd in-process on a port of this run (tests.ports).

`running_server` can refuse chosen recipients with a given reply and require a login.
"""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.ports import server_port


def free_port() -> int:
    """A port for a server of ours, or where nothing listens: no other run takes it."""
    return server_port()


class RecordingHandler:
    def __init__(self, refusals: dict[str, str] | None = None):
        self.refusals = {k.lower(): v for k, v in (refusals or {}).items()}
        self.lock = threading.Lock()
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.lower() in self.refusals:
            return self.refusals[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Accepted"

    def messages(self) -> list[Message]:
        with self.lock:
            return [message_from_bytes(data) for _from, _to, data in self.received]


def password_checker(users: dict[str, str]):
    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if users.get(login) == password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    return authenticate


@contextmanager
def running_server(
    refusals: dict[str, str] | None = None, users: dict[str, str] | None = None
) -> Iterator[tuple[int, RecordingHandler]]:
    """A started SMTP server; yields (port, handler). With `users`, AUTH is offered."""
    handler = RecordingHandler(refusals)
    port = free_port()
    options = {}
    if users is not None:
        options = {"authenticator": password_checker(users), "auth_require_tls": False}
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections but never says a word (for timeouts)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        yield listener.getsockname()[1]
