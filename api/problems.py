"""Errors as RFC 9457 problem details (application/problem+json), each with a stable `code`.

Every refusal of the API is one of PROBLEMS: its HTTP status, a title that never changes,
and a `code` clients can branch on. The body is

    {"type": "<SITE_URL>/api/v1/problems/<code>", "title": ..., "status": ..., "detail": ...,
     "code": ..., "instance": "<the request's path>", "errors": {field: [messages]}}

`errors` only for invalid fields. The owning apps raise their own exceptions; views turn them
into a Problem (`raise Problem("invalid_transition", str(exc))`), and exception_handler turns
Django REST framework's own exceptions into the matching codes.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpRequest
from rest_framework import exceptions, status
from rest_framework.response import Response

CONTENT_TYPE = "application/problem+json"


@dataclass(frozen=True)
class Kind:
    status: int
    title: str
    description: str


PROBLEMS = {
    "malformed_body": Kind(400, "Malformed body", "The body is not valid JSON (or form data)."),
    "nul_character": Kind(
        400, "NUL character", "A text of the request holds a NUL character (U+0000)."
    ),
    "invalid_parameter": Kind(
        400, "Invalid parameter", "A query parameter has a value it cannot take."
    ),
    "invalid_cursor": Kind(400, "Invalid cursor", "The cursor is not one this API gave out."),
    "invalid_idempotency_key": Kind(
        400, "Invalid Idempotency-Key", "The key must be 1 to 255 visible ASCII characters."
    ),
    "unauthenticated": Kind(401, "Unauthenticated", "Send Authorization: Bearer <API key>."),
    "invalid_key": Kind(401, "Invalid API key", "The key is malformed or not known."),
    "key_revoked": Kind(401, "API key revoked", "An administrator revoked this key."),
    "key_expired": Kind(401, "API key expired", "The key is past its expiry date."),
    "key_user_inactive": Kind(401, "API key's user inactive", "The key's user is deactivated."),
    "missing_scope": Kind(403, "Missing scope", "The key lacks the scope this call needs."),
    "permission_denied": Kind(
        403, "Permission denied", "The key's user (its groups) may not do this."
    ),
    "not_found": Kind(404, "Not found", "There is no such resource (or it is not yours)."),
    "method_not_allowed": Kind(405, "Method not allowed", "This path does not take that method."),
    "not_acceptable": Kind(406, "Not acceptable", "The API answers JSON only."),
    "conflict": Kind(409, "Conflict", "The request conflicts with the resource's state."),
    "invalid_transition": Kind(
        409, "Invalid status change", "The resource's status does not allow this change."
    ),
    "in_use": Kind(409, "In use", "Other records use it; remove or change those first."),
    "not_editable": Kind(409, "Not editable", "The resource cannot change in its current status."),
    "external_id_taken": Kind(
        409, "External id taken", "Another record of this kind has that external_id."
    ),
    "idempotency_in_progress": Kind(
        409,
        "Request in progress",
        "A request with this Idempotency-Key is still being answered; try again shortly.",
    ),
    "body_too_large": Kind(413, "Body too large", "The request body is over the API's limit."),
    "unsupported_media_type": Kind(
        415, "Unsupported media type", "Send application/json (or multipart/form-data)."
    ),
    "invalid_fields": Kind(422, "Invalid fields", "Some fields are invalid; see `errors`."),
    "idempotency_key_reused": Kind(
        422,
        "Idempotency-Key reused",
        "This Idempotency-Key was used within 24 hours for another request.",
    ),
    "consent_required": Kind(
        422,
        "Consent required",
        "Subscribing an opted-out address again needs `resubscribe` and a `consent_text`.",
    ),
    "address_suppressed": Kind(
        422, "Address suppressed", "The person of this address asked to be erased."
    ),
    "too_many_items": Kind(422, "Too many items", "A bulk call takes at most 100,000 items."),
    "rate_limited": Kind(429, "Too many requests", "The key's rate limit is spent (Retry-After)."),
    "server_error": Kind(500, "Server error", "Something failed on our side; nothing was kept."),
}


class Problem(exceptions.APIException):
    """A refusal with one of PROBLEMS' codes; `errors` maps fields to their messages."""

    def __init__(
        self, code: str, detail: str = "", *, errors: dict | None = None, headers=None
    ) -> None:
        kind = PROBLEMS[code]
        self.status_code = kind.status
        self.problem_code = code
        self.errors = errors
        self.headers = headers or {}
        super().__init__(detail or kind.description, code)


def problem_type(code: str) -> str:
    """The problem's `type`: where its code is explained (on SITE_URL, never the request's
    Host header, which may be the very thing refused)."""
    return f"{settings.SITE_URL}/api/v1/problems/{code}"


def body(request: HttpRequest | None, code: str, detail: str, errors: dict | None = None) -> dict:
    """The problem document for `code`."""
    kind = PROBLEMS[code]
    document = {
        "type": problem_type(code),
        "title": kind.title,
        "status": kind.status,
        "detail": detail or kind.description,
        "code": code,
        "instance": request.path if request is not None else "",
    }
    if errors:
        document["errors"] = errors
    return document


def response(
    request: HttpRequest | None, code: str, detail: str = "", errors=None, headers=None
) -> Response:
    """A DRF Response carrying the problem document of `code`."""
    return Response(
        body(request, code, detail, errors),
        status=PROBLEMS[code].status,
        headers=headers,
        content_type=CONTENT_TYPE,
    )


def _flatten(detail) -> dict:
    """DRF's nested error details as {field path: [messages]}."""
    found = {}

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
            for index, inner in enumerate(value):
                walk(inner, f"{path}[{index}]" if path else f"[{index}]")
        elif isinstance(value, list):
            if value:
                found.setdefault(path or "non_field_errors", []).extend(str(v) for v in value)
        else:
            found.setdefault(path or "non_field_errors", []).append(str(value))

    walk(detail, "")
    return found


def _code_of(exc: Exception) -> tuple[str, str]:
    """(code, detail) of an exception Django REST framework or Django raised."""
    if isinstance(exc, Problem):
        return exc.problem_code, str(exc.detail)
    table = [
        (exceptions.ParseError, "malformed_body"),
        (exceptions.NotAuthenticated, "unauthenticated"),
        (exceptions.AuthenticationFailed, "invalid_key"),
        (exceptions.PermissionDenied, "permission_denied"),
        (exceptions.NotFound, "not_found"),
        (exceptions.MethodNotAllowed, "method_not_allowed"),
        (exceptions.NotAcceptable, "not_acceptable"),
        (exceptions.UnsupportedMediaType, "unsupported_media_type"),
        (exceptions.Throttled, "rate_limited"),
        (exceptions.ValidationError, "invalid_fields"),
    ]
    for exception_class, code in table:
        if isinstance(exc, exception_class):
            detail = getattr(exc, "detail", "")
            return code, detail if isinstance(detail, str) else ""
    if isinstance(exc, Http404):
        return "not_found", ""
    if isinstance(exc, (ProtectedError, RestrictedError)):
        names = sorted({str(row._meta.verbose_name) for row in exc.protected_objects})[:5]
        return "in_use", f"It is still used by: {', '.join(names)}. Remove those first."
    if isinstance(exc, RequestDataTooBig):
        return "body_too_large", ""
    if isinstance(exc, TooManyFieldsSent):
        return "malformed_body", "The form has too many fields."
    if isinstance(exc, DjangoPermissionDenied):
        return "permission_denied", ""
    return "", ""


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """REST_FRAMEWORK's EXCEPTION_HANDLER: every known exception as problem+json; None for
    others (a bug: the middleware answers a 500 problem and the error is logged)."""
    code, detail = _code_of(exc)
    if not code:
        return None
    request = context.get("request")
    errors = getattr(exc, "errors", None)
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
    if code == "permission_denied" and getattr(exc, "problem_code", "") == "":
        detail = detail or PROBLEMS[code].description
    headers = dict(getattr(exc, "headers", None) or {})
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)) or (
        PROBLEMS[code].status == status.HTTP_401_UNAUTHORIZED
    ):
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response(request, code, str(detail), errors, headers)
