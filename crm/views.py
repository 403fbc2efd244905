"""Small pages of the project itself: the site-URL check, and (DEBUG only) captured mail."""

from django.conf import settings
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin

from crm import captured_mail, site_url
from crm.security_headers import EMAIL_IN_FRAME, content_security_policy


def site_check(request: HttpRequest) -> HttpResponse:
    """Answers the admin's "check site URL": proves a URL leads to this installation."""
    return HttpResponse(site_url.identity(), content_type="text/plain")


def _check_allowed(request: HttpRequest) -> None:
    # 404 rather than 403 or a login redirect: outside development the page does not exist.
    if not settings.DEBUG or not (request.user.is_active and request.user.is_staff):
        raise Http404("captured mail is a development page")


def captured_mail_list(request: HttpRequest) -> HttpResponse:
    _check_allowed(request)
    context = {
        **admin.site.each_context(request),
        "title": _("Captured mail"),
        "messages_list": captured_mail.list_messages(settings.SMTP_CAPTURE_DIR),
        "directory": settings.SMTP_CAPTURE_DIR,
        "limit": captured_mail.LIST_LIMIT,
    }
    return render(request, "crm/captured_mail_list.html", context)


def captured_mail_detail(request: HttpRequest, name: str) -> HttpResponse:
    _check_allowed(request)
    try:
        message = captured_mail.read_message(settings.SMTP_CAPTURE_DIR, name)
    except captured_mail.CapturedMailNotFound as exc:
        raise Http404("no captured message with that name") from exc
    context = {
        **admin.site.each_context(request),
        "title": message.subject or _("(no subject)"),
        "message": message,
    }
    return render(request, "crm/captured_mail_detail.html", context)


@xframe_options_sameorigin
@content_security_policy(EMAIL_IN_FRAME)
def captured_mail_html(request: HttpRequest, name: str) -> HttpResponse:
    """A captured message's HTML part alone, for the sandboxed frame of its detail page."""
    _check_allowed(request)
    try:
        message = captured_mail.read_message(settings.SMTP_CAPTURE_DIR, name)
    except captured_mail.CapturedMailNotFound as exc:
        raise Http404("no captured message with that name") from exc
    # Links clicked in the frame open in a new tab instead of inside the frame.
    page = f'<base target="_blank">{message.html}'
    return HttpResponse(page, content_type="text/html; charset=utf-8")
