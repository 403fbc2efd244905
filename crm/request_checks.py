"""Requests refused before any view: a NUL character in the address, the query or a form.

No text column can hold NUL (PostgreSQL refuses it: a search for `%00` would end in a
DatabaseError), no person types it, and a form that carries one was pasted from binary data.
Such a request gets a 400 page in the look of where it was going that names the field and says
nothing was saved (crm.error_pages); a public link with NUL in its address is answered as any
link that is not valid (404). Uploaded files are not looked at: they may hold any byte.
The open pixel and ESP webhooks are left alone (ALWAYS_ANSWERED), and the REST API checks its
requests itself (CHECKED_ELSEWHERE).
Oversized forms are refused by Django itself (DATA_UPLOAD_MAX_MEMORY_SIZE); handler400 turns
that into the 413 page.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _

from crm.error_pages import is_admin_path, refused

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
# The open pixel answers its image whatever it is asked (it reads no query and stores nothing
# from it); ESP webhooks are the ESP's JSON, answered by anymail.
ALWAYS_ANSWERED = ("/t/o/", "/anymail/")
# The REST API refuses NUL itself, as a problem document its clients can read (api/).
CHECKED_ELSEWHERE = ("/api/",)


def fields_with_nul(request: HttpRequest) -> list[str]:
    """The names of the parts of `request` that carry a NUL character ('' for the address)."""
    found = []
    if request.path_info.startswith(ALWAYS_ANSWERED + CHECKED_ELSEWHERE):
        return found
    if "\x00" in request.path_info:
        found.append("")
    query = request.META.get("QUERY_STRING", "")
    if "%00" in query or "\x00" in query:
        found += [name for name, values in request.GET.lists() if _has_nul(name, values)]
    if request.method == "POST":
        content_type = request.content_type
        if content_type == URLENCODED and (b"%00" in request.body or b"\x00" in request.body):
            found += [name for name, values in request.POST.lists() if _has_nul(name, values)]
        elif content_type == MULTIPART:
            found += [name for name, values in request.POST.lists() if _has_nul(name, values)]
    return found


def _has_nul(name: str, values: list[str]) -> bool:
    return "\x00" in name or any("\x00" in value for value in values)


class RefuseNulMiddleware:
    """400 for a request with NUL in its address, query or form fields (see the module)."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        fields = fields_with_nul(request)
        if not fields:
            return self.get_response(request)
        if fields == [""] and not is_admin_path(request):
            # A public link with NUL in it (a token's place) is simply not a valid link.
            response = render(request, "tracking/invalid_link.html", status=404)
            patch_cache_control(response, no_store=True)
            return response
        names = ", ".join(f"“{name.replace(chr(0), '')}”" for name in fields if name)
        reason = _(
            "The request contains a NUL character (an invisible control code, usually pasted "
            "from a file) in %(where)s. No text can hold it, so nothing was saved or searched. "
            "Remove it and try again."
        ) % {"where": names or _("the page address")}
        return refused(request, _("Invisible character refused"), reason, status=400)
