"""The web view: a recipient's own message in the browser, from `{webViewUrl}`.

The signed WEB_VIEW token names the queue item; the page is that item's HTML body rendered as in
the email (same person values, working signed opt-out and tracked links) without the open pixel,
so reading it on the web is not counted as an open. The page is served with a CSP sandbox: the
template's HTML runs in an opaque origin, so nothing in it can reach this site's cookies.
A forged, altered or garbled token, or an item that was never sent, gets a 404 page.
"""

import html
import threading
import time

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from campaigns.authoring import tokens
from campaigns.authoring.rendering import CompiledMassEmail, RenderError
from campaigns.models import EmailQueueItem

SANDBOX = (
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation; "
    "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
)
TARGETS = (
    "email_address",
    "contact",
    "lead",
    "account",
    "user",
    "mass_email__campaign",
    "mass_email__email_template",
)
# A newsletter's web view is opened by many recipients at once: each process keeps a mass
# email's compiled form this many seconds (and drops it as soon as its template changes).
CACHE_SECONDS = 30
_cache: dict[tuple, tuple[float, object, CompiledMassEmail]] = {}
_cache_lock = threading.Lock()


def sent_item(token: str) -> EmailQueueItem:
    """The sent queue item a valid token names; raises Http404 otherwise."""
    ids = tokens.read_or_none(tokens.WEB_VIEW, token)
    if ids is None:
        raise Http404("not a web view token")
    item = (
        EmailQueueItem.objects.select_related(*TARGETS)
        .filter(pk=ids[0], status=EmailQueueItem.Status.SENT)
        .first()
    )
    if item is None:
        raise Http404("no such sent message")
    return item


def compiled_for_web(mass_email, variant=None) -> CompiledMassEmail:
    """The mass email (as A/B `variant`, when given) compiled for the web view, from this
    process's cache when fresh; raises RenderError."""
    template = variant.template if variant is not None and variant.template_id else None
    template = template or mass_email.email_template
    now, version = time.monotonic(), template.updated_at
    key = (mass_email.pk, variant.pk if variant is not None else None)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] > now and cached[1] == version:
        return cached[2]
    compiled = CompiledMassEmail.compile(mass_email, for_web=True, variant=variant)
    with _cache_lock:
        _cache[key] = (now + CACHE_SECONDS, version, compiled)
    return compiled


def page_for(item: EmailQueueItem) -> str:
    """The item's message as an HTML page; raises RenderError when it can no longer render."""
    body, subtype = compiled_for_web(item.mass_email, item.variant).web_page(item)
    if subtype == "html":
        return body
    return f'<pre style="white-space:pre-wrap;font-family:sans-serif">{html.escape(body)}</pre>'


@require_safe
def web_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        item = sent_item(token)
        page = page_for(item)
    except (Http404, RenderError):
        response = render(request, "tracking/invalid_link.html", status=404)
    else:
        response = HttpResponse(page, content_type="text/html; charset=utf-8")
        response["Content-Security-Policy"] = SANDBOX
    patch_cache_control(response, private=True, no_store=True)
    response["Referrer-Policy"] = "no-referrer"  # the token must not leak to linked sites
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
