"""Answers under /api/ that the API's views did not make, as problem+json too.

Django answers some requests before any view (a path no URL matches: 404; a body over
DATA_UPLOAD_MAX_MEMORY_SIZE: the 413 page), and an unexpected exception in a view is a 500.
Under /api/ these become problem documents with the status's code, so a client never has to
read an HTML page; the 500's traceback is logged as usual and never shown.
"""

import json
import logging
from collections.abc import Callable

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse

from api import problems

logger = logging.getLogger("django.request")
PREFIX = "/api/"
BY_STATUS = {
    400: "malformed_body",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _problem(request: HttpRequest, status: int) -> HttpResponse:
    code = BY_STATUS.get(status, "server_error" if status >= 500 else "malformed_body")
    document = problems.body(request, code, "")
    document["status"] = status
    return HttpResponse(json.dumps(document), status=status, content_type=problems.CONTENT_TYPE)


class ProblemDetailsMiddleware:
    """See the module."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path_info.startswith(PREFIX) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith((problems.CONTENT_TYPE, "application/json")):
            return response
        problem = _problem(request, response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                problem[header] = response[header]
        return problem

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path_info.startswith(PREFIX):
            return None
        for exception_class, status in (
            (RequestDataTooBig, 413),
            (SuspiciousOperation, 400),
            (Http404, 404),
            (PermissionDenied, 403),
        ):
            if isinstance(exception, exception_class):
                return _problem(request, status)
        logger.exception("API error on %s %s", request.method, request.path, exc_info=exception)
        return _problem(request, 500)
