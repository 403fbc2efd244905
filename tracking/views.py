"""Public URLs a recipient reaches from an email: open pixel, click, opt-out, subscribe again.

The signed token is the only authority these URLs need: no session, no login. The opt-out
page's forms carry a CSRF token like every other form (so another site cannot unsubscribe or
resubscribe a visitor behind their back); only the RFC 8058 one-click POST, which mail
providers send without cookies, is exempt.
"""

import base64
import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from campaigns import tokens
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
        return recording.record_click(item_id, url_id, Visit.from_request(request))
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


def _subscribable_item(token: str) -> EmailQueueItem | None:
    ids = tokens.read_or_none(tokens.OPT_OUT, token)
    item = recording.sent_item(ids[0]) if ids else None
    if item is None or item.mass_email.campaign.is_informational:
        return None
    return item


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
def opt_out(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the page with an Unsubscribe button and changes nothing; POST unsubscribes."""
    item = _subscribable_item(token)
    if item is None:
        return _invalid_link(request)
    if request.method != "POST":
        return _opt_out_page(request, token, item)
    if request.POST.get("preferences"):
        return _save_preferences(request, token, item)
    visit = Visit.from_request(request)
    done = unsubscribing.opt_out(item, via=TrackingHit.Kind.OPT_OUT, visit=visit)
    if done:
        preferences.record_reason(item, request.POST.get("reason", ""), request.POST.get("why", ""))
    return _opt_out_page(request, token, item, done="out" if done else "")


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
def one_click_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The List-Unsubscribe URL: an RFC 8058 POST unsubscribes at once; a GET shows the page."""
    item = _subscribable_item(token)
    if item is None:
        return _invalid_link(request)
    if request.method != "POST":
        return _opt_out_page(request, token, item)
    if request.POST.get("List-Unsubscribe") != "One-Click":
        return HttpResponseBadRequest(
            "Expected the body List-Unsubscribe=One-Click (RFC 8058).", content_type="text/plain"
        )
    unsubscribing.opt_out(item, via=TrackingHit.Kind.ONE_CLICK, visit=Visit.from_request(request))
    return HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def subscribe_again(request: HttpRequest, token: str) -> HttpResponse:
    """POST undoes the opt-out; a GET only leads back to the opt-out page."""
    item = _subscribable_item(token)
    if item is None:
        return _invalid_link(request)
    if request.method != "POST":
        return redirect("tracking:opt_out", token=token)
    unsubscribing.subscribe_again(item)
    return _opt_out_page(request, token, item, done="again")
