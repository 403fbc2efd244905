"""Public URLs a recipient reaches from an email: open pixel, click, opt-out, subscribe again.

The signed token is the only authority these URLs need: no session, no login. The opt-out
page's forms carry a CSRF token like every other form (so another site cannot unsubscribe or
resubscribe a visitor behind their back); only the RFC 8058 one-click POST, which mail
providers send without cookies, is exempt.
"""

import base64
import logging
from functools import wraps

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from campaigns.authoring import tokens
from campaigns.models import EmailQueueItem, TrackingUrl
from tracking import buffer, preferences, recording
from tracking import opt_out as unsubscribing
from tracking.classification import HONEYPOT_URL_ID
from tracking.models import OptOutReason, TrackingHit
from tracking.recording import Visit

logger = logging.getLogger(__name__)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _invalid_link(request: HttpRequest) -> HttpResponse:
    response = render(request, "tracking/invalid_link.html", status=404)
    patch_cache_control(response, no_store=True)
    return response


@require_safe
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    """Always a 1×1 GIF; a GET with a valid token records the open (HEAD records nothing)."""
    ids = tokens.read_or_none(tokens.OPEN, token)
    if ids and request.method == "GET":
        visit = Visit.from_request(request)
        try:
            if buffer.enabled():
                buffer.push(TrackingHit.Kind.OPEN, ids[0], None, visit)
            else:
                recording.record_open(ids[0], visit)
                recording.count_tail_soon()
        except DatabaseError:
            # The image must still come back; the failure is logged, not hidden.
            logger.exception("could not record an open of queue item %s", ids[0])
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store, private"
    return response


def _click_link(request: HttpRequest, item_id: int, url_id: int) -> TrackingUrl | None:
    """The link to follow, once the click is recorded or buffered (GET); None if there is none.

    Buffered, the link comes from a per-process cache and the item is not read: the token's
    signature attests the pairing, and the batch drops clicks of items not sent."""
    if buffer.enabled():
        link = recording.cached_link(url_id)
        if link is not None and request.method == "GET":
            buffer.push(TrackingHit.Kind.CLICK, item_id, url_id, Visit.from_request(request))
        return link
    if request.method == "GET":
        link = recording.record_click(item_id, url_id, Visit.from_request(request))
        recording.count_tail_soon()
        return link
    return recording.find_link(item_id, url_id)


@require_safe
@never_cache
def click(request: HttpRequest, token: str) -> HttpResponse:
    """Record a click and send the visitor to the tracking URL's stored address, or its message."""
    ids = tokens.read_or_none(tokens.CLICK, token, 2)
    if not ids:
        return _invalid_link(request)
    if ids[1] == HONEYPOT_URL_ID:
        return _honeypot(request, ids[0])
    link = _click_link(request, *ids)
    if link is None:
        return _invalid_link(request)
    redirects = link.action == TrackingUrl.Action.REDIRECT
    if redirects:
        return HttpResponseRedirect(link.url)
    return render(request, "tracking/message.html", {"link": link})


def _honeypot(request: HttpRequest, item_id: int) -> HttpResponse:
    """The hidden link no person sees: a hit marks its burst as a machine's."""
    item = recording.sent_item(item_id)
    if item is None:
        return _invalid_link(request)
    if request.method == "GET":
        recording.record_trap(item, Visit.from_request(request))
    return HttpResponse(status=204)


class Informational(Exception):
    """The item belongs to an informational campaign: there is nothing to unsubscribe from."""


def _subscribable_item(token: str) -> EmailQueueItem | None:
    """The sent item the token names; None if none; raises Informational for a service notice."""
    ids = tokens.read_or_none(tokens.OPT_OUT, token)
    item = recording.sent_item(ids[0]) if ids else None
    if item is not None and item.mass_email.campaign.is_informational:
        raise Informational
    return item


def _not_subscribable(request: HttpRequest) -> HttpResponse:
    context = {
        "title": _("This email cannot be unsubscribed from"),
        "reason": _(
            "It was a service message (about your account, an order or a change to our terms), "
            "sent to everyone it concerns rather than to a mailing list, so there is no list "
            "to leave. Nothing was changed."
        ),
    }
    response = render(request, "tracking/refused.html", context, status=404)
    patch_cache_control(response, no_store=True)
    return response


def subscription_view(view):
    """The opt-out views' refusal of informational campaigns, with the reason."""

    @wraps(view)
    def guarded(request: HttpRequest, token: str) -> HttpResponse:
        try:
            return view(request, token)
        except Informational:
            return _not_subscribable(request)

    return guarded


def _person_name(target) -> str:
    if target is None:
        return ""
    name = getattr(target, "name", None)
    return name if name is not None else target.get_full_name()  # a User has no `name`


def _opt_out_page(request: HttpRequest, token: str, item: EmailQueueItem, done: str = ""):
    context = {
        "token": token,
        "item": item,
        "name": _person_name(item.target),
        "opted_out": unsubscribing.is_opted_out(item),
        "entirely": item.mass_email.opt_out_entirely,
        "done": done,
        "lists": preferences.choices(item),
        "reasons": OptOutReason.Choice.choices,
    }
    return render(request, "tracking/opt_out.html", context)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@subscription_view
def opt_out(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the page with an Unsubscribe button and changes nothing; POST unsubscribes."""
    item = _subscribable_item(token)
    if item is None:
        return _invalid_link(request)
    if request.method != "POST":
        return _opt_out_page(request, token, item)
    if request.POST.get("preferences"):
        return _save_preferences(request, token, item)
    # Whatever the user agent: a person may use any browser, and the CSRF token shows the
    # request came from this page; the machine rules only classify the hit for the reports.
    unsubscribing.opt_out(item, via=TrackingHit.Kind.OPT_OUT, visit=Visit.from_request(request))
    preferences.record_reason(item, request.POST.get("reason", ""), request.POST.get("why", ""))
    return _opt_out_page(request, token, item, done="out")


def _save_preferences(request: HttpRequest, token: str, item: EmailQueueItem) -> HttpResponse:
    """The preference center's POST: the lists ticked stay, the others (or all) are left."""
    everything = request.POST.get("everything") == "1"
    keep = preferences.entries_kept(request.POST, item)
    preferences.save(item, keep, everything, Visit.from_request(request).client_hash)
    if everything or unsubscribing.is_opted_out(item):
        preferences.record_reason(item, request.POST.get("reason", ""), request.POST.get("why", ""))
    return _opt_out_page(request, token, item, done="preferences")


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@subscription_view
def one_click_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The List-Unsubscribe URL: an RFC 8058 POST unsubscribes at once; a GET shows the page."""
    item = _subscribable_item(token)
    if item is None:
        return _invalid_link(request)
    if request.method != "POST":
        return _opt_out_page(request, token, item)
    if request.POST.get("List-Unsubscribe") != "One-Click":
        return _not_one_click(request, token)
    # RFC 8058: the body alone is the request (no cookies, no user agent rules), answered
    # without a redirect.
    unsubscribing.opt_out(item, via=TrackingHit.Kind.ONE_CLICK, visit=Visit.from_request(request))
    return HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8")


def _not_one_click(request: HttpRequest, token: str) -> HttpResponse:
    """400 for a POST without RFC 8058's body: the page says why and leads to the opt-out page."""
    context = {
        "title": _("This is the mail programs' unsubscribe address"),
        "reason": _(
            "It accepts only the one-click request mail programs send (RFC 8058), and this "
            "request was not one. Nothing was changed."
        ),
        "link": reverse("tracking:opt_out", args=[token]),
        "link_text": _("Go to the unsubscribe page"),
    }
    return render(request, "tracking/refused.html", context, status=400)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@subscription_view
def subscribe_again(request: HttpRequest, token: str) -> HttpResponse:
    """POST undoes the opt-out; a GET only leads back to the opt-out page."""
    item = _subscribable_item(token)
    if item is None:
        return _invalid_link(request)
    if request.method != "POST":
        return redirect("tracking:opt_out", token=token)
    unsubscribing.subscribe_again(item)
    return _opt_out_page(request, token, item, done="again")
