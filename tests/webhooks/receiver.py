"""A webhook receiver as a client would run one: an HTTP server on 127.0.0.1 in a thread that
checks every request with the `standardwebhooks` package and answers as the test says."""

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    payload: dict | None = None

    def _replace_body(self, body: bytes) -> "Received":
        return Received(self.headers, body, False)


@dataclass
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class Receiver:
    """`answer(received) -> Reply` decides each answer (204 by default); `received` lists
    every request; `secret` is the endpoint's, as its owner was shown it."""

    def __init__(self, secret: str = "", answer: Callable[[Received], Reply] | None = None):
        self.secret = secret
        self.answer = answer or (lambda received: Reply())
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def verify(self, headers: dict[str, str], body: bytes) -> tuple[bool, dict | None]:
        try:
            return True, Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False, None

    @property
    def payloads(self) -> list[dict]:
        return [r.payload for r in self.received if r.verified]

    def events(self) -> list[dict]:
        """Every verified event received, batches opened, in the order they came."""
        found = []
        for payload in self.payloads:
            found += payload["data"]["events"] if payload["type"] == "batch" else [payload]
        return found

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                verified, payload = receiver.verify(headers, body)
                received = Received(headers, body, verified, payload)
                with receiver._lock:
                    receiver.received.append(received)
                reply = receiver.answer(received)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args) -> None:
                return

        return Handler


def body_json(received: Received) -> dict:
    return json.loads(received.body)
