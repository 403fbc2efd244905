"""Local HTTP servers that implement ESPs' documented send endpoints, for anymail to post to.

Each answers as its ESP documents: Postmark POST /email (and /email/batch), Mailgun POST
/v3/<domain>/messages (form data), SendGrid POST /v3/mail/send (202, no body), Amazon SES v2
POST /v2/email/outbound-emails (boto3's rest-json, the raw MIME in Content.Raw.Data). Every
message received is kept as `Received` (recipient, subject, bodies, headers, metadata) so tests
can check what each recipient got.

What the server does next can be set: `key` (a wrong key gets the ESP's 401/403), `refused`
(addresses the ESP refuses: Postmark's inactive recipient 422/406, Mailgun's and SendGrid's 400,
SES's MessageRejected), `script` (answers for the next requests, e.g. a 429 with Retry-After)
and `delay` (seconds to wait after taking a message before answering: a timeout after the ESP
accepted).
"""

import base64
import email
import email.policy
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from tests.ports import HOST, server_port


@dataclass
class Received:
    to: str
    subject: str
    html: str
    text: str
    headers: dict[str, str]
    metadata: dict = field(default_factory=dict)
    message_id: str = ""


class EspServer:
    """One ESP's API on 127.0.0.1: start(), stop(), `url` for the source's API base URL."""

    name = ""
    key = "right-key"

    def __init__(self):
        self.received: list[Received] = []
        self.refused: set[str] = set()
        self.script: list[tuple[int, dict, dict]] = []  # (status, headers, body) to answer next
        self.delay = 0.0
        self.requests = 0
        self.batches: list[int] = []  # messages per batch call (Postmark's /email/batch)
        self.lock = threading.Lock()
        self.port = server_port()
        self.httpd = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body in one write: no Nagle/delayed-ACK stall on a kept-alive socket.
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                status, headers, answer = server.answer(self.path, self.headers, body)
                payload = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer((HOST, self.port), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    def answer(self, path, headers, body) -> tuple[int, dict, object]:
        with self.lock:
            self.requests += 1
            scripted = self.script.pop(0) if self.script else None
        if scripted is not None:
            return scripted
        if not self.authorized(headers):
            return self.unauthorized()
        messages = self.parse(path, headers, body)
        answers = []
        for message in messages:
            if message.to.lower() in self.refused:
                return self.refusal(message)
            message.message_id = self.new_id()
            with self.lock:
                self.received.append(message)
            answers.append(message)
        if self.delay:
            time.sleep(self.delay)
        return self.accepted(path, answers)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if r.to.lower() == address.lower()]

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())

    # Each ESP's own.
    def authorized(self, headers) -> bool:
        raise NotImplementedError

    def unauthorized(self):
        raise NotImplementedError

    def parse(self, path, headers, body) -> list[Received]:
        raise NotImplementedError

    def refusal(self, message: Received):
        raise NotImplementedError

    def accepted(self, path, messages: list[Received]):
        raise NotImplementedError


def _address(value: str) -> str:
    return email.utils.parseaddr(value)[1]


class Postmark(EspServer):
    """https://postmarkapp.com/developer/api/email-api: POST /email, /email/batch."""

    name = "postmark"

    def authorized(self, headers):
        return headers.get("X-Postmark-Server-Token") == self.key

    def unauthorized(self):
        return 401, {}, {"ErrorCode": 10, "Message": "The Server Token you provided was invalid."}

    def parse(self, path, headers, body):
        data = json.loads(body)
        return [self._one(m) for m in (data if isinstance(data, list) else [data])]

    @staticmethod
    def _one(m) -> Received:
        return Received(
            to=_address(m["To"]),
            subject=m.get("Subject", ""),
            html=m.get("HtmlBody", ""),
            text=m.get("TextBody", ""),
            headers={h["Name"]: h["Value"] for h in m.get("Headers", [])},
            metadata=m.get("Metadata", {}),
        )

    def answer(self, path, headers, body):
        """/email/batch answers 200 with one result per message, a refused one included
        (https://postmarkapp.com/developer/api/email-api#send-batch-emails)."""
        if not path.rstrip("/").endswith("batch"):
            return super().answer(path, headers, body)
        with self.lock:
            self.requests += 1
            self.batches.append(len(json.loads(body)))
            scripted = self.script.pop(0) if self.script else None
        if scripted is not None:
            return scripted
        if not self.authorized(headers):
            return self.unauthorized()
        results = []
        for message in self.parse(path, headers, body):
            if message.to.lower() in self.refused:
                results.append(self.refusal(message)[2])
                continue
            message.message_id = self.new_id()
            with self.lock:
                self.received.append(message)
            results.append(self.accepted("/email", [message])[2])
        if self.delay:
            time.sleep(self.delay)
        return 200, {}, results

    def refusal(self, message):
        words = (
            "You tried to send to recipient(s) that have been marked as inactive. Found inactive "
            f"addresses: {message.to}. Inactive recipients are ones that have generated a hard "
            "bounce, a spam complaint, or a manual suppression."
        )
        return 422, {}, {"ErrorCode": 406, "Message": words}

    def accepted(self, path, messages):
        answers = [
            {
                "To": m.to,
                "SubmittedAt": "2026-12-05T19:00:00.0000000-05:00",
                "MessageID": m.message_id,
                "ErrorCode": 0,
                "Message": "OK",
            }
            for m in messages
        ]
        return 200, {}, answers if path.rstrip("/").endswith("batch") else answers[0]


class Mailgun(EspServer):
    """https://documentation.mailgun.com (Messages API): POST /v3/<domain>/messages."""

    name = "mailgun"
    domain = "mg.example.com"

    def authorized(self, headers):
        expected = base64.b64encode(f"api:{self.key}".encode()).decode()
        return headers.get("Authorization") == f"Basic {expected}"

    def unauthorized(self):
        return 401, {}, {"message": "Invalid private key"}

    def parse(self, path, headers, body):
        assert path == f"/v3/{self.domain}/messages", path
        fields: dict[str, str] = {}
        if headers["Content-Type"].startswith("application/x-www-form-urlencoded"):
            fields = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        else:  # multipart/form-data (with attachments)
            raw = b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body
            form = BytesParser(policy=email.policy.default).parsebytes(raw)
            for part in form.iter_parts():
                if part.get_filename():
                    continue
                name = part.get_param("name", header="content-disposition")
                fields[name] = part.get_content()
        return [
            Received(
                to=_address(fields["to"]),
                subject=fields.get("subject", ""),
                html=fields.get("html", ""),
                text=fields.get("text", ""),
                headers={k[2:]: v for k, v in fields.items() if k.startswith("h:")},
                metadata={k[2:]: v for k, v in fields.items() if k.startswith("v:")},
            )
        ]

    def refusal(self, message):
        return 400, {}, {"message": f"to parameter is not a valid address: {message.to}"}

    def new_id(self):
        return f"<{uuid.uuid4().hex}@{self.domain}>"

    def accepted(self, path, messages):
        return 200, {}, {"id": messages[0].message_id, "message": "Queued. Thank you."}


class SendGrid(EspServer):
    """https://www.twilio.com/docs/sendgrid/api-reference/mail-send: POST /v3/mail/send."""

    name = "sendgrid"

    def authorized(self, headers):
        return headers.get("Authorization") == f"Bearer {self.key}"

    def unauthorized(self):
        words = "The provided authorization grant is invalid, expired, or revoked"
        return 401, {}, {"errors": [{"message": words, "field": None, "help": None}]}

    def parse(self, path, headers, body):
        assert path == "/v3/mail/send", path
        data = json.loads(body)
        content = {c["type"]: c["value"] for c in data.get("content", [])}
        received = []
        for personalization in data["personalizations"]:
            received.append(
                Received(
                    to=personalization["to"][0]["email"],
                    subject=personalization.get("subject", data.get("subject", "")),
                    html=content.get("text/html", ""),
                    text=content.get("text/plain", ""),
                    headers={**data.get("headers", {}), **personalization.get("headers", {})},
                    metadata={
                        **data.get("custom_args", {}),
                        **personalization.get("custom_args", {}),
                    },
                )
            )
        return received

    def refusal(self, message):
        words = "Does not contain a valid address."
        return 400, {}, {"errors": [{"message": words, "field": "personalizations.0.to.0.email"}]}

    def accepted(self, path, messages):
        # SendGrid answers 202 with no body; the message id is the one anymail generated and
        # sent as custom_args.anymail_id (what its webhooks return).
        for message in messages:
            message.message_id = message.metadata.get("anymail_id", "")
        return 202, {}, None


class AmazonSes(EspServer):
    """https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html:
    POST /v2/email/outbound-emails (SigV4-signed; the raw MIME in Content.Raw.Data)."""

    name = "amazon_ses"
    access_key_id = "AKIAEXAMPLEKEY"

    def authorized(self, headers):
        # The secret itself never travels: a signature made with the wrong one is refused by SES
        # with 403; here, the access key id stands for the pair.
        auth = headers.get("Authorization", "")
        return f"Credential={self.access_key_id}/" in auth

    def unauthorized(self):
        words = "The security token included in the request is invalid."
        return 403, {"x-amzn-ErrorType": "UnrecognizedClientException"}, {"message": words}

    def parse(self, path, headers, body):
        assert path == "/v2/email/outbound-emails", path
        data = json.loads(body)
        raw = base64.b64decode(data["Content"]["Raw"]["Data"])
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        html, text = parsed.get_body(("html",)), parsed.get_body(("plain",))
        tags = {t["Name"]: t["Value"] for t in data.get("EmailTags", [])}
        return [
            Received(
                to=_address(str(parsed["To"])),
                subject=str(parsed["Subject"]),
                html=html.get_content() if html is not None else "",
                text=text.get_content() if text is not None else "",
                headers={k: str(v) for k, v in parsed.items()},
                metadata=tags,
            )
        ]

    def refusal(self, message):
        words = f"Email address is not verified. The following identities failed: {message.to}"
        return 400, {"x-amzn-ErrorType": "MessageRejected"}, {"message": words}

    def accepted(self, path, messages):
        return 200, {}, {"MessageId": messages[0].message_id}


SERVERS = {cls.name: cls for cls in (Postmark, Mailgun, SendGrid, AmazonSes)}


def configure(source, server: EspServer, key: str | None = None) -> None:
    """Point `source` (OutboundEmailSettings or an EmailAccount) at `server`'s API."""
    source.sending_method = server.name
    source.esp_api_key = key or server.key
    source.esp_api_url = server.url.rstrip("/") + {"mailgun": "/v3", "sendgrid": "/v3/"}.get(
        server.name, "/"
    )
    if server.name == "mailgun":
        source.esp_domain, source.esp_region = Mailgun.domain, "us"
    if server.name == "amazon_ses":
        key_id = AmazonSes.access_key_id if key is None else "AKIAWRONGKEY"
        source.esp_access_key_id, source.esp_region = key_id, "us-east-1"
        source.esp_api_url = server.url.rstrip("/")
    source.save()
