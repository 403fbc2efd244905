"""Local HTTP servers that implement ESPs' documented send endpoints, for anymail to post to.

Each answers as its ESP documents: Postmark POST /email (and /email/batch), Mailgun POST
/v3/<domain>/messages (form data; several `to` with recipient-variables, %recipient.KEY%
expanded for each), SendGrid POST /v3/mail/send (202, no body; one message per personalization,
its substitutions expanded), Amazon SES v2 POST /v2/email/outbound-emails (boto3's rest-json, the
raw MIME in Content.Raw.Data) and /v2/email/outbound-bulk-emails (SendBulkEmail with an inline
template, each entry's {{name}} expanded, its ReplacementHeaders, a Status per entry). Every
message received is kept as `Received` (recipient, subject, bodies, headers, metadata), after
the ESP's own expansion of its variables, so tests can check what each recipient got; `batches`
records the recipients of each batch call.

What the server does next can be set: `key` (a wrong key gets the ESP's 401/403), `refused`
(addresses the ESP refuses: Postmark's inactive recipient 422/406, Mailgun's and SendGrid's 400
for the whole call, SES's MessageRejected, in a bulk call as that entry's Status), `script`
(answers for the next requests, e.g. a 429 with Retry-After), `throttle` (seconds: the next call
gets a 429 with that Retry-After, and so does every call that comes before they have passed, as
an ESP's rate limiter does; `arrivals` keeps when each call came), `malformed` (addresses whose
message the ESP takes but whose entry of the answer is not one: in a batch answer that entry,
else the whole answer, is a bare string) and `delay` (seconds to wait after taking a message
before answering: a timeout after the ESP accepted).
"""

import base64
import email
import email.policy
import html as html_module
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from tests.ports import HOST, server_port

RECIPIENT_VARIABLE = re.compile(r"%recipient\.([^%]+)%")  # Mailgun's
NOT_AN_ANSWER = "not an answer"  # what a `malformed` recipient's entry of an answer is


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
        self.malformed: set[str] = set()
        self.script: list[tuple[int, dict, dict]] = []  # (status, headers, body) to answer next
        self.delay = 0.0
        self.throttle = 0.0
        self.throttled_until: float | None = None
        self.requests = 0
        self.arrivals: list[float] = []  # time.monotonic() of each call as it came
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
        early, messages = self.admit(path, headers, body)
        if early is not None:
            return early
        answers = []
        for message in messages:
            if message.to.lower() in self.refused:
                return self.refusal(message)
            self.keep(message)
            answers.append(message)
        if self.delay:
            time.sleep(self.delay)
        status, headers, answer = self.accepted(path, answers)
        if any(self.is_malformed(message) for message in answers):
            answer = NOT_AN_ANSWER
        return status, headers, answer

    def is_malformed(self, message: Received) -> bool:
        return message.to.lower() in self.malformed

    def admit(self, path, headers, body) -> tuple[tuple | None, list[Received]]:
        """Count the call, then (the answer to give at once, None) for a scripted answer or a
        wrong key, else (None, the messages the call carries)."""
        with self.lock:
            self.requests += 1
            now = time.monotonic()
            self.arrivals.append(now)
            scripted = self.script.pop(0) if self.script else self.throttled(now)
        if scripted is not None:
            return scripted, []
        if not self.authorized(headers):
            return self.unauthorized(), []
        return None, self.parse(path, headers, body)

    def throttled(self, now: float) -> tuple | None:
        """A 429 with Retry-After for a call that comes before the throttle's time has passed
        (the first call after `throttle` was set starts it); None once it has."""
        if self.throttle and self.throttled_until is None:
            self.throttled_until = now + self.throttle
        if self.throttled_until is None or now >= self.throttled_until:
            return None
        wait = f"{self.throttled_until - now:.3f}"
        headers = {"Retry-After": wait, "x-amzn-ErrorType": "TooManyRequestsException"}
        return 429, headers, {"message": "Too many requests", "Message": "Too many requests"}

    def keep(self, message: Received) -> None:
        """`message` accepted: it gets an ESP message id and joins what was received."""
        message.message_id = self.new_id()
        with self.lock:
            self.received.append(message)

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
            self.batches.append(len(json.loads(body)))
        early, messages = self.admit(path, headers, body)
        if early is not None:
            return early
        results = []
        for message in messages:
            if message.to.lower() in self.refused:
                results.append(self.refusal(message)[2])
                continue
            self.keep(message)
            entry = self.accepted("/email", [message])[2]
            results.append(NOT_AN_ANSWER if self.is_malformed(message) else entry)
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
        """One message per `to`; with recipient-variables (batch sending), each recipient's
        %recipient.KEY% replaced by its own value, in the subject, bodies, h: and v: fields."""
        assert path == f"/v3/{self.domain}/messages", path
        fields: dict[str, list[str]] = {}
        if headers["Content-Type"].startswith("application/x-www-form-urlencoded"):
            fields = parse_qs(body.decode(), keep_blank_values=True)
        else:  # multipart/form-data (with attachments)
            raw = b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body
            form = BytesParser(policy=email.policy.default).parsebytes(raw)
            for part in form.iter_parts():
                if part.get_filename():
                    continue
                name = part.get_param("name", header="content-disposition")
                fields.setdefault(name, []).append(part.get_content())
        one = {k: v[-1] for k, v in fields.items()}
        variables = json.loads(one.get("recipient-variables", "{}"))
        recipients = [_address(to) for value in fields["to"] for to in value.split(",")]
        if len(recipients) > 1:
            with self.lock:
                self.batches.append(len(recipients))
        received = []
        for to in recipients:
            own = {k.lower(): v for k, v in variables.get(to, {}).items()}

            def expand(text, own=own):
                if "recipient-variables" not in one:
                    return text  # no batch sending: nothing is substituted
                return RECIPIENT_VARIABLE.sub(lambda m: str(own.get(m.group(1).lower(), "")), text)

            received.append(
                Received(
                    to=to,
                    subject=expand(one.get("subject", "")),
                    html=expand(one.get("html", "")),
                    text=expand(one.get("text", "")),
                    headers={k[2:]: expand(v) for k, v in one.items() if k.startswith("h:")},
                    metadata={k[2:]: expand(v) for k, v in one.items() if k.startswith("v:")},
                )
            )
        return received

    def refusal(self, message):
        return 400, {}, {"message": f"to parameter is not a valid address: {message.to}"}

    def new_id(self):
        return f"<{uuid.uuid4().hex}@{self.domain}>"

    def accepted(self, path, messages):
        # One id for the call, whatever the number of recipients (batch sending).
        for message in messages[1:]:
            message.message_id = messages[0].message_id
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
        """One message per personalization: its own subject, headers and custom_args over the
        message's, and its substitutions replaced, tag by tag, in the subject and contents."""
        assert path == "/v3/mail/send", path
        data = json.loads(body)
        content = {c["type"]: c["value"] for c in data.get("content", [])}
        received = []
        if len(data["personalizations"]) > 1:
            with self.lock:
                self.batches.append(len(data["personalizations"]))
        for personalization in data["personalizations"]:
            substitutions = personalization.get("substitutions", {})
            size = sum(len(k.encode()) + len(v.encode()) for k, v in substitutions.items())
            assert size <= 10_000, "substitutions over 10,000 bytes a personalization"

            def expand(text, tags=substitutions):
                if not tags:
                    return text
                pattern = "|".join(re.escape(tag) for tag in sorted(tags, key=len, reverse=True))
                return re.sub(pattern, lambda m: tags[m.group(0)], text)

            received.append(
                Received(
                    to=personalization["to"][0]["email"],
                    subject=expand(personalization.get("subject", data.get("subject", ""))),
                    html=expand(content.get("text/html", "")),
                    text=expand(content.get("text/plain", "")),
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
        # sent as custom_args.anymail_id of the recipient's personalization (what its webhooks
        # return for that recipient).
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
        if path == BULK_PATH:
            return self.parse_bulk(json.loads(body))
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

    @staticmethod
    def parse_bulk(data) -> list[Received]:
        """SendBulkEmail (https://docs.aws.amazon.com/ses/latest/APIReference-V2/
        API_SendBulkEmail.html) with an inline template: each entry's {{name}} replaced by its
        ReplacementTemplateData value, HTML-escaped as Handlebars does (SES does not say whether
        an inline template escapes: this server takes the stricter reading), and its
        ReplacementHeaders over the template's."""
        template = data["DefaultContent"]["Template"]
        content = template["TemplateContent"]
        common = {h["Name"]: h["Value"] for h in template.get("Headers", [])}
        received = []
        for entry in data["BulkEmailEntries"]:
            (to,) = entry["Destination"]["ToAddresses"]
            replacement = entry.get("ReplacementEmailContent", {}).get("ReplacementTemplate", {})
            values = json.loads(replacement.get("ReplacementTemplateData", "{}"))

            def expand(text, values=values):
                return re.sub(
                    r"\{\{\s*(\w+)\s*\}\}",
                    lambda m: html_module.escape(str(values.get(m.group(1), ""))),
                    text,
                )

            headers = common | {h["Name"]: h["Value"] for h in entry.get("ReplacementHeaders", [])}
            received.append(
                Received(
                    to=_address(to),
                    subject=expand(content.get("Subject", "")),
                    html=expand(content.get("Html", "")),
                    text=expand(content.get("Text", "")),
                    headers=headers,
                    metadata=json.loads(headers.get("X-Metadata", "{}")),
                )
            )
        return received

    def answer(self, path, headers, body):
        """SendBulkEmail answers 200 with one BulkEmailEntryResult per entry, a refused one
        included (its Status and Error)."""
        if path != BULK_PATH:
            return super().answer(path, headers, body)
        early, messages = self.admit(path, headers, body)
        if early is not None:
            return early
        with self.lock:
            self.batches.append(len(messages))
        results = []
        for message in messages:
            if message.to.lower() in self.refused:
                words = self.refusal(message)[2]["message"]
                results.append({"Status": "MESSAGE_REJECTED", "Error": words})
                continue
            self.keep(message)
            entry = {"Status": "SUCCESS", "MessageId": message.message_id}
            results.append(NOT_AN_ANSWER if self.is_malformed(message) else entry)
        if self.delay:
            time.sleep(self.delay)
        return 200, {}, {"BulkEmailEntryResults": results}

    def refusal(self, message):
        words = f"Email address is not verified. The following identities failed: {message.to}"
        return 400, {"x-amzn-ErrorType": "MessageRejected"}, {"message": words}

    def accepted(self, path, messages):
        return 200, {}, {"MessageId": messages[0].message_id}


BULK_PATH = "/v2/email/outbound-bulk-emails"
SERVERS = {cls.name: cls for cls in (Postmark, Mailgun, SendGrid, AmazonSes)}
# Words of each ESP's refusal of one recipient (server.refused), as a test finds them.
REFUSAL_WORDS = {
    "postmark": "marked as inactive",
    "mailgun": "not a valid address",
    "sendgrid": "Does not contain a valid address",
    "amazon_ses": "Email address is not verified",
}


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
