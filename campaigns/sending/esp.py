"""Sending through an ESP's HTTP API (Postmark, Mailgun, SendGrid, Amazon SES) with django-anymail.

A source whose sending method is an ESP (crm.models.SendingMethod) sends each rendered message
as an API message of its own: the rendered bytes are read back into a Django message (subject,
text and HTML bodies, attachments, and every header that makes it this recipient's message:
Message-ID, List-Unsubscribe, List-Unsubscribe-Post, List-Id, Feedback-ID…), so every recipient
gets exactly what SMTP would have carried, own links and opt-out included.

Postmark's /email/batch takes up to 500 whole messages, each its own, in one call: the messages
go in batches, each entry built by anymail's Postmark payload. The other ESPs' batch calls
(SendGrid's personalizations, Mailgun's recipient variables, SES's SendBulkEmail) share one body
between recipients and vary it by variables: the messages of a call are turned into one template
and each recipient's values, checked to give each message back exactly, and those that cannot be
go one call each (campaigns.sending.esp_templates, campaigns.sending.esp_bulk). The pool
(campaigns.sending.esp_pool.ApiPool) keeps up to `connections` calls going at once, each thread
on a kept-alive HTTPS connection, which hides the round trip as the SMTP sessions do
(docs/delivery.md, "ESP APIs").

What each answer means (the same categories as SMTP's, campaigns.sending.transport):
- accepted: the ESP's message id is kept (EmailQueueItem.esp_message_id), for its webhooks
  (a Mailgun batch call has one id for all its recipients).
- the recipient refused by the ESP (Postmark's inactive or invalid recipient, anymail's
  "rejected"/"invalid"): PermanentRejection with the ESP's words.
- another refusal of this message (4xx but 401/403/429): MessageFailed with the ESP's words.
- 429, 5xx, a timeout after the request went out: SourceDeferral, deferred with the usual
  backoff; a 429's Retry-After is the least wait, and no call of the pool goes out, on any
  thread, before it has passed (esp_pool.ApiPool.before_call). They are about the ESP, not the
  recipients' domains: the per-domain backoff does not count them. A timeout may come after
  the ESP took the message: it is sent again (at-least-once); so is every message of a call
  whose answer cannot be read (esp_answers.in_doubt), while those of earlier calls keep theirs.
- 401/403 (a wrong or revoked key), missing credentials or library: ConfigurationProblem: the
  source stops for the run. The ESP unreachable (connection refused, DNS): ConnectionProblem.
"""

import email
import email.policy
import json
import logging
from email.message import EmailMessage as MimeMessage

import requests
from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.core.mail import EmailMultiAlternatives
from django.utils.translation import gettext as _

from campaigns.authoring.rendering import ESP_METADATA_KEY
from campaigns.sending import esp_bulk
from campaigns.sending.esp_answers import (
    RetryLater,
    SourceDeferral,
    as_api_error,
    esp_words,
    http_status,
    in_doubt,
    is_timeout,
    retry_after,
)
from campaigns.sending.transport import (
    ConfigurationProblem,
    ConnectionProblem,
    MessageFailed,
    PermanentRejection,
    SmtpProblem,
)
from crm import esp_api
from crm.models import EmailAccount, OutboundEmailSettings, SendingMethod

logger = logging.getLogger(__name__)
# Seconds an API call may take; past it the message is deferred (the ESP may have it).
TIMEOUT = 30
# Headers the message carries for an SMTP relay only, or that the API sets itself.
DROPPED_HEADERS = {
    "from", "to", "cc", "bcc", "reply-to", "subject", "date", "mime-version",
    "content-type", "content-transfer-encoding", "dkim-signature", "x-pm-metadata-massmail_item",
    "x-mailgun-variables", "x-smtpapi", "x-metadata", "return-path",
}  # fmt: skip
REFUSED_STATUSES = {"rejected", "invalid", "failed"}
POSTMARK_BATCH = 500
# Postmark's ErrorCodes that refuse the recipient (406 inactive, 300 invalid email request).
POSTMARK_RECIPIENT_CODES = {300, 406}


class WholeCallRefused(MessageFailed):
    """The ESP refused a batch call as a whole for something of its content (SendGrid and
    Mailgun refuse the call for one bad address): its messages go one call each."""


def _not_prepared(exc: Exception) -> MessageFailed:
    return MessageFailed(
        _("The message could not be prepared for the API: %(error)s") % {"error": exc}
    )


def as_api_message(data: bytes) -> EmailMultiAlternatives:
    """The rendered message `data` as a Django message an anymail backend can send: the same
    subject, bodies, attachments and headers, so the recipient gets what SMTP would carry."""
    parsed: MimeMessage = email.message_from_bytes(data, policy=email.policy.default)
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    message = EmailMultiAlternatives(
        subject=str(parsed.get("Subject", "")),
        body=text.get_content() if text is not None else "",
        from_email=str(parsed["From"]),
        to=[str(parsed["To"])],
        reply_to=[str(parsed["Reply-To"])] if parsed.get("Reply-To") else None,
        headers={
            name: str(value)
            for name, value in parsed.items()
            if name.lower() not in DROPPED_HEADERS
        },
    )
    if html is not None:
        if text is None:
            message.body, message.content_subtype = html.get_content(), "html"
        else:
            message.attach_alternative(html.get_content(), "text/html")
    for part in parsed.iter_attachments():
        message.attach(part.get_filename(), part.get_content(), part.get_content_type())
    token = parsed.get("X-Queue-Item-Id")
    if token:
        message.metadata = {ESP_METADATA_KEY: str(token)}  # what tracking.esp reads back
    return message


def backend_for(source: OutboundEmailSettings | EmailAccount, timeout: float | None = None):
    """An anymail backend configured from the source's own fields (crm.esp_api); a source that
    cannot have one is a ConfigurationProblem (the source stops for the run)."""
    try:
        return esp_api.backend_for(source, timeout or TIMEOUT)
    except esp_api.EspSettingsError as exc:
        raise ConfigurationProblem(str(exc)) from exc


class Calls:
    """What an EspTransport tells its pool around each API call (esp_pool.ApiPool: its pause after
    a 429, its rate, its count of deferred calls). This one, for a transport on its own, lets
    every call go at once."""

    def before_call(self, count: int) -> None:
        """A call carrying `count` messages is about to go out: wait until it may. Raises
        ConnectionProblem when no more calls may go out (the source stopped)."""

    def after_call(self, answers: list[str | SmtpProblem]) -> None:
        """The call answered: each of its messages' message id or problem."""


class EspTransport:
    """API calls to one source's ESP from one thread (a kept-alive connection of its own):
    `send_batch` sends messages in as few calls as the ESP allows (one Postmark batch call,
    SendGrid's, Mailgun's or SES's batch calls, else one call each), telling `calls` before and
    after each call."""

    def __init__(
        self,
        source: OutboundEmailSettings | EmailAccount,
        timeout: float | None = None,
        calls: Calls | None = None,
    ):
        self.source = source
        self.backend = backend_for(source, timeout)
        self.calls = calls or Calls()
        self._opened = False

    @property
    def batch_size(self) -> int:
        """Messages one call may carry: Postmark's /email/batch takes 500 whole messages;
        SendGrid's and Mailgun's batch calls 1,000 recipients, SES's SendBulkEmail 50, each
        recipient's message carried exactly by one template and its variables (esp_bulk)."""
        if self.source.sending_method == SendingMethod.POSTMARK:
            return POSTMARK_BATCH
        dialect = esp_bulk.DIALECTS.get(self.source.sending_method)
        return dialect.max_batch if dialect is not None else 1

    def send_batch(self, messages: list[bytes]) -> list[str | SmtpProblem]:
        """Send the messages, in as few calls as the ESP's batch call allows; for each, its
        message id or the problem that says what happened to it. Each call's answers are kept
        as it answers; a ConnectionProblem (the ESP unreachable, the source stopped between
        two calls) is the answer of every message not sent yet (the pool then stops), never of
        one an earlier call carried. Likewise an unexpected error between two calls fails only
        the messages no call carried yet (nothing of theirs went out); one while a call is
        answered leaves that call's messages in doubt (_call)."""
        results: list[str | SmtpProblem | None] = [None] * len(messages)
        try:
            if len(messages) > 1 and self.batch_size > 1:
                if self.source.sending_method == SendingMethod.POSTMARK:
                    self._postmark_batch(messages, results)
                else:
                    self._shared_batches(messages, results)
            else:
                prepared = self._prepared(messages, results)
                self._one_by_one(prepared, sorted(prepared), results)
        except ConnectionProblem as problem:
            results = [problem if result is None else result for result in results]
        except Exception as exc:  # noqa: BLE001  a bug between calls: the rest fail, nothing lost
            logger.exception("An ESP API batch broke between its calls")
            error = {"error": f"{type(exc).__name__}: {exc}"}
            failed = MessageFailed(_("The message could not be sent: %(error)s") % error)
            results = [failed if result is None else result for result in results]
        return results

    @staticmethod
    def _prepared(messages: list[bytes], results: list) -> dict[int, EmailMultiAlternatives]:
        """The rendered messages as anymail sends them, by position; one that cannot be is
        answered in `results` with MessageFailed."""
        prepared = {}
        for position, data in enumerate(messages):
            try:
                prepared[position] = as_api_message(data)
            except (ValueError, LookupError, TypeError) as exc:
                results[position] = _not_prepared(exc)
        return prepared

    def _call(self, count: int, post) -> list[str | SmtpProblem]:
        """One API call carrying `count` messages: `post()` makes it and reads each message's
        answer. The pool hears of it before (it may have to wait) and after (its answers).
        Anything unexpected once the call may have gone out (an answer that cannot be read, a
        bug reading it) leaves its messages in doubt: the ESP may have taken them."""
        self.calls.before_call(count)
        if not self._opened:
            self._opened = True
            self.backend.open()
        try:
            answers = post()
        except Exception as exc:  # noqa: BLE001  in doubt, as after a timeout: not lost, not failed
            logger.exception("An ESP API call's answer could not be read")
            answers = [in_doubt(f"{type(exc).__name__}: {exc}")] * count
        self.calls.after_call(answers)
        return answers

    def _one_by_one(self, prepared: dict, positions: list[int], results: list) -> None:
        """Each prepared message at `positions` in a call of its own, answered in `results`;
        the ESP unreachable is raised, to answer for the rest (send_batch)."""
        for position in positions:
            message = prepared[position]
            (answer,) = self._call(1, lambda message=message: [self._post(message)])
            results[position] = answer
            raise_broken([answer])

    def _post(self, message: EmailMultiAlternatives) -> str | SmtpProblem:
        """One message's call: its ESP message id, or the problem (module docstring)."""
        try:
            self.backend.send_messages([message])
        except AnymailRecipientsRefused as exc:
            return self._refused(message, exc)
        except AnymailAPIError as exc:
            return self._failure(exc)
        except AnymailError as exc:
            return MessageFailed(str(exc))
        status = message.anymail_status
        if any(s.status in REFUSED_STATUSES for s in status.recipients.values()):
            return self._refused(message, None)
        return status.message_id if isinstance(status.message_id, str) else ""

    def _shared_batches(self, messages: list[bytes], results: list) -> None:
        """SendGrid, Mailgun, SES: the messages one template carries exactly go in batch calls,
        the others one call each (campaigns.sending.esp_bulk), answered in `results`."""
        prepared = self._prepared(messages, results)
        dialect = esp_bulk.dialect_for(self.source.sending_method)
        batches, alone = esp_bulk.plan(prepared, dialect, self.backend)
        for batch in batches:
            answers = self._send_shared(batch, prepared, dialect)
            if answers is None:  # a refusal of the whole call: each message on its own
                alone += batch.positions
                continue
            for position, answer in zip(batch.positions, answers, strict=True):
                results[position] = answer
            raise_broken(answers)
        self._one_by_one(prepared, sorted(alone), results)

    def _send_shared(self, batch, prepared, dialect) -> list[str | SmtpProblem] | None:
        """One batch call; each recipient's answer, or None when the ESP refused the call as a
        whole for something of its content (a 4xx: SendGrid and Mailgun refuse the call for
        one bad address), so that each message is sent alone and only that one fails."""
        message, keys = esp_bulk.bulk_message(batch, prepared, dialect, self.backend)
        answers = self._call(len(keys), lambda: self._post_shared(message, keys))
        if all(isinstance(answer, WholeCallRefused) for answer in answers):
            return None
        return answers

    def _post_shared(self, message, keys: list[str]) -> list[str | SmtpProblem]:
        try:
            self.backend.send_messages([message])
        except AnymailRecipientsRefused:
            pass  # every entry refused (SES): each with its own words, below
        except AnymailAPIError as exc:
            response = getattr(exc, "response", None)
            if isinstance(response, dict) and "BulkEmailEntryResults" in response:
                return esp_bulk.ses_entries(response["BulkEmailEntryResults"], keys)
            problem = self._failure(exc)
            if isinstance(problem, MessageFailed):
                problem = WholeCallRefused(str(problem))
            return [problem] * len(keys)
        except AnymailError:
            logger.warning("A batch could not be built; its messages go one call each")
            return [WholeCallRefused(_("The batch could not be built."))] * len(keys)
        return esp_bulk.answers(message, keys)

    def _postmark_batch(self, messages: list[bytes], results: list) -> None:
        """One POST /email/batch of whole messages, each built by anymail's Postmark payload
        (the same JSON its single sends post); its answer is one result per message, in order
        (https://postmarkapp.com/developer/api/email-api#send-batch-emails)."""
        entries, positions = [], []
        for position, data in enumerate(messages):
            try:
                message = as_api_message(data)
                payload = self.backend.build_message_payload(message, self.backend.send_defaults)
                payload.serialize_data()  # what a single send would post, checked
            except (AnymailError, ValueError, LookupError, TypeError) as exc:
                results[position] = _not_prepared(exc)
                continue
            entries.append(payload.data)
            positions.append(position)
        if entries:
            answers = self._call(len(entries), lambda: self._post_batch(entries))
            for position, answer in zip(positions, answers, strict=True):
                results[position] = answer

    def _post_batch(self, entries: list[dict]) -> list[str | SmtpProblem]:
        backend = self.backend
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Postmark-Server-Token": backend.server_token,
        }
        try:
            response = backend.session.post(
                backend.api_url + "email/batch",
                data=json.dumps(entries),
                headers=headers,
                timeout=backend.timeout,
            )
        except requests.RequestException as exc:
            return [self._failure(as_api_error(exc))] * len(entries)
        if response.status_code != 200:
            return [self._failure(as_api_error(None, response))] * len(entries)
        try:
            answers = response.json()
            assert isinstance(answers, list) and len(answers) == len(entries)
        except (ValueError, AssertionError):
            return [in_doubt(response.text)] * len(entries)
        pairs = zip(entries, answers, strict=True)
        return [self._batch_answer(entry, answer) for entry, answer in pairs]

    @staticmethod
    def _batch_answer(entry: dict, answer: dict) -> str | SmtpProblem:
        code, words = answer.get("ErrorCode", 0), str(answer.get("Message", ""))[:300]
        if code == 0:
            return str(answer.get("MessageID", ""))
        address = entry.get("To", "")
        if code in POSTMARK_RECIPIENT_CODES:
            text = _("The ESP refused %(address)s: %(words)s") % {
                "address": address,
                "words": words,
            }
            return PermanentRejection(text, 550, f"550 {words}")
        what = {"status": f"ErrorCode {code}", "words": words}
        return MessageFailed(_("The ESP refused the message (%(status)s): %(words)s") % what)

    def close(self) -> None:
        if self._opened:
            self._opened = False
            self.backend.close()

    def _refused(self, message, exc) -> PermanentRejection:
        words = esp_words(getattr(message.anymail_status, "esp_response", None), exc)
        address = message.to[0]
        text = _("The ESP refused %(address)s: %(words)s") % {"address": address, "words": words}
        return PermanentRejection(text, 550, f"550 {words}")

    def _failure(self, exc: AnymailAPIError) -> SmtpProblem:
        status, wait, cause = http_status(exc), retry_after(exc), exc.__cause__
        words = esp_words(getattr(exc, "response", None), exc)
        what = {"status": status or "", "words": words}
        if status in (401, 403):
            return ConfigurationProblem(
                _("The ESP refused the API key (%(status)s): %(words)s") % what, status
            )
        if status == 429 or (status is not None and status >= 500):
            message = _("The ESP deferred the message (%(status)s): %(words)s") % what
            return RetryLater(message, status, wait)
        if status is not None and 200 <= status < 300:  # taken, but the answer is unreadable
            return in_doubt(words)
        if status is not None:
            return MessageFailed(_("The ESP refused the message (%(status)s): %(words)s") % what)
        if cause is None:  # anymail could not read what the ESP answered
            return in_doubt(words)
        if is_timeout(cause):
            message = _(
                "The ESP did not answer in time; it may have taken the message, which is sent "
                "again at the next attempt: %(error)s"
            )
            return SourceDeferral(message % {"error": cause})
        return ConnectionProblem(
            _("The ESP's API cannot be reached: %(error)s") % {"error": cause or exc}
        )


def raise_broken(answers: list) -> None:
    """Raise the first ConnectionProblem among `answers`: the ESP unreachable, or the source
    stopped; it answers for every message not sent yet."""
    broken = next((a for a in answers if isinstance(a, ConnectionProblem)), None)
    if broken is not None:
        raise broken
