"""What an ESP's HTTP API said, read from anymail's errors: the HTTP status, a 429's
Retry-After, whether the call timed out after it went out, and the ESP's own words (for
campaigns.sending.esp, which turns them into the SMTP problem categories)."""

import requests
from anymail.exceptions import AnymailAPIError
from django.utils.translation import gettext as _

from campaigns.sending.transport import TemporaryRejection


class SourceDeferral(TemporaryRejection):
    """The ESP did not take a whole call now (a 429, a 5xx, no answer in time) or its account
    cannot send now: about the source, not the recipients' domains. The messages are deferred
    as usual, but the per-domain backoff does not hear of it (esp_pool.ApiPool._settle): a throttled
    batch to gmail.com says nothing about gmail.com."""


class RetryLater(SourceDeferral):
    """The ESP deferred the call and may have said how long to wait (a 429's Retry-After)."""

    def __init__(self, message: str, code: int | None, retry_after: float | None):
        super().__init__(message, code)
        self.retry_after = retry_after


def in_doubt(words: str) -> SourceDeferral:
    """A call went out but its answer cannot be read: the ESP may have taken its messages.
    They are deferred and sent again at their next attempt, as after a timeout (at-least-once,
    docs/delivery.md): a duplicate is possible, a loss is not."""
    message = _(
        "The ESP's answer could not be read; it may have taken the message, which is sent "
        "again at the next attempt: %(words)s"
    )
    return SourceDeferral(message % {"words": words[:300]})


def as_api_error(cause: BaseException | None, response=None) -> AnymailAPIError:
    """A failed batch call in the shape anymail's own failures have, for EspTransport._failure."""
    error = AnymailAPIError(str(cause or ""), response=response)
    error.__cause__ = cause
    return error


def http_status(exc: AnymailAPIError) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, requests.Response):
        return response.status_code
    if isinstance(response, dict):  # boto3 (Amazon SES): the parsed error response
        return response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def retry_after(exc: AnymailAPIError) -> float | None:
    response = getattr(exc, "response", None)
    if isinstance(response, requests.Response):
        value = response.headers.get("Retry-After")
    elif isinstance(response, dict):
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        value = headers.get("retry-after")
    else:
        value = None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the usual backoff applies


def is_timeout(cause) -> bool:
    if isinstance(cause, requests.Timeout) and not isinstance(cause, requests.ConnectTimeout):
        return True
    return type(cause).__name__ in ("ReadTimeoutError", "ReadTimeout")


def esp_words(response, exc) -> str:
    """What the ESP said, as it said it, short."""
    if isinstance(response, requests.Response):
        try:
            body = response.json()
        except ValueError:
            return response.text[:300] or str(response.status_code)
        if isinstance(body, dict):
            words = body.get("Message") or body.get("message") or body.get("errors")
            if isinstance(words, list):
                words = "; ".join(
                    str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in words
                )
            return str(words or body)[:300]
        return str(body)[:300]
    if isinstance(response, dict):
        error = response.get("Error", {})
        if error:
            return f"{error.get('Code', '')}: {error.get('Message', '')}"[:300]
        return str(response)[:300]
    return str(exc or "")[:300]
