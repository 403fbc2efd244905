"""django-anymail's webhook URLs (/anymail/<esp>/…), with payloads its parsers cannot read
answered 400 instead of 500.

anymail checks the basic-auth secret and the ESP's signature and answers 400 when they fail;
but a post that passes them with a body the ESP's parser does not expect (truncated JSON, a
list where an object belongs, a missing key) raises from inside the parser. That is the
sender's mistake, not ours: it gets a 400 saying so, and the traceback is logged as a warning.
"""

import logging
from functools import wraps

from anymail import urls as anymail_urls
from anymail.exceptions import AnymailError
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import URLPattern

logger = logging.getLogger(__name__)
MALFORMED = (AnymailError, ValueError, KeyError, TypeError, AttributeError, IndexError)


def answering_malformed_payloads(view):
    """`view`, answering 400 when the payload's parser raises on what it was sent."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except SuspiciousOperation:
            raise  # anymail's own refusals (bad secret or signature): Django answers 400
        except MALFORMED as exc:
            logger.warning("malformed ESP webhook post to %s", request.path, exc_info=True)
            return HttpResponseBadRequest(
                f"The webhook payload could not be read: {type(exc).__name__}.\n",
                content_type="text/plain; charset=utf-8",
            )

    return guarded


app_name = "anymail"  # the names anymail's own URLconf gives, e.g. anymail:mailgun_tracking_webhook
urlpatterns = [
    URLPattern(pattern.pattern, answering_malformed_payloads(pattern.callback), name=pattern.name)
    for pattern in anymail_urls.urlpatterns
]
