"""Pages for requests the product refuses, in the look of where they were headed.

A request to the admin gets a page in the admin's look (with the site's header and the
visitor's menu); any other path, which recipients reach from emails, gets the public pages'
look in the visitor's language. Nothing here answers 500: these are the 400, 404 and 413 pages
that name what was wrong (a form too big, too many fields, a NUL character, a link that is not
valid).
"""

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _

MEGABYTE = 1024 * 1024


def is_admin_path(request: HttpRequest) -> bool:
    return request.path_info.startswith("/admin/")


def refused(request: HttpRequest, title: str, reason: str, status: int) -> HttpResponse:
    """A page saying why the request was refused, with `status`."""
    context = {"title": title, "reason": reason}
    if is_admin_path(request) and getattr(request, "user", None) is not None:
        context |= admin.site.each_context(request)
        return render(request, "admin/request_refused.html", context, status=status)
    response = render(request, "tracking/refused.html", context, status=status)
    patch_cache_control(response, no_store=True)
    return response


def _megabytes(size: int) -> str:
    return f"{size / MEGABYTE:.1f}".rstrip("0").rstrip(".")


def too_big(request: HttpRequest) -> HttpResponse:
    """413: the form's data is over DATA_UPLOAD_MAX_MEMORY_SIZE (attached files do not count)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    size = int(request.META.get("CONTENT_LENGTH") or 0)
    reason = _(
        "The form you sent holds %(size)s MB of text; at most %(limit)s MB are accepted "
        "(attached files do not count). Nothing was saved. Shorten the longest field, e.g. the "
        "HTML body of an email template (mailbox providers clip messages over about 100 KB), "
        "and send it again."
    ) % {"size": _megabytes(size), "limit": _megabytes(limit)}
    return refused(request, _("The form is too big"), reason, status=413)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: what was wrong with the request, in words."""
    if isinstance(exception, RequestDataTooBig):
        return too_big(request)
    if isinstance(exception, TooManyFieldsSent):
        reason = _(
            "The form you sent has more than %(limit)s fields. Nothing was saved. Select fewer "
            "rows (or use “select all” of the list instead of ticking each row) and try again."
        ) % {"limit": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}
        return refused(request, _("The form has too many fields"), reason, status=400)
    reason = _("The request could not be understood. Nothing was changed.")
    return refused(request, _("Bad request"), reason, status=400)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: public paths (links from emails) get the "link is not valid" page."""
    if is_admin_path(request):
        reason = _("There is no page at this address.")
        return refused(request, _("Page not found"), reason, status=404)
    response = render(request, "tracking/invalid_link.html", status=404)
    patch_cache_control(response, no_store=True)
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form came without the security token of the page that gave it.

    On a public page (unsubscribe, subscribe again) the visitor gets, in their language, the
    reason and the button again: pressing it sends the form with a fresh token."""
    if is_admin_path(request):
        text = _(
            "The form was sent without the security token of the page that showed it (the "
            "page may have been open for a long time, or cookies are blocked for this site). "
            "Nothing was saved. Reload the page and send the form again."
        )
        return refused(request, _("Please send the form again"), text, status=403)
    context = {
        "title": _("Please press the button again"),
        "reason": _(
            "Your browser did not send back the security cookie this page needs, so nothing "
            "was changed yet. Press the button to send your request again. If this page comes "
            "back, allow cookies for this site."
        ),
        "retry": request.path,
        "retry_text": _("Send my request again"),
    }
    response = render(request, "tracking/refused.html", context, status=403)
    patch_cache_control(response, no_store=True)
    return response
