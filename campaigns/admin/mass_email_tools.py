"""The mass email page's sending panel (progress, next run, estimate, who will receive it) and
its Send now and Duplicate buttons."""

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Min
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from campaigns.authoring.duplicate import duplicate_mass_email
from campaigns.models import EmailQueueItem, MassEmail
from campaigns.results.estimate import estimate
from campaigns.results.progress import progress
from campaigns.sending.queue import count_recipients
from campaigns.sending.send_now import SendNowRefused, refusal, send_now
from campaigns.sending.throughput import finish_at_rate, mass_email_rate

REFRESH_SECONDS = 10
BEFORE_QUEUE = (MassEmail.Status.DRAFT, MassEmail.Status.PENDING)


def bar(done: dict, total: int) -> list[tuple[str, str, int, float]]:
    """(css class, label, count, percent of total) of each segment of the progress bar."""
    labels = {
        "sent": _("Sent"),
        "waiting": _("Pending"),
        "deferred": _("Deferred"),
        "failed": _("Failed"),
        "held": _("Held for the winner"),
    }
    return [
        (key, labels[key], n, round(100 * n / total, 2) if total else 0.0)
        for key, n in done.items()
    ]


def sending_context(request: HttpRequest, mass_email: MassEmail) -> dict:
    """What the mass email page shows about sending, for its template."""
    found = progress(mass_email)
    recipients = count_recipients(mass_email) if mass_email.status in BEFORE_QUEUE else None
    waiting = found.pending - found.deferred
    segments = {"sent": found.sent, "waiting": waiting, "deferred": found.deferred}
    segments["failed"] = found.failed
    if found.held:
        segments["held"] = found.held
    items = EmailQueueItem.objects.filter(mass_email=mass_email, is_test=False)
    may_change = request.user.has_perm("campaigns.change_massemail")
    rate = mass_email_rate(mass_email) if mass_email.status == "in_process" else 0.0
    return {
        "rate": rate,
        "rate_finish": finish_at_rate(found.pending, rate),
        "progress": found,
        "progress_bar": bar(segments, found.total),
        "recipients": recipients,
        "estimate": estimate(mass_email, recipients.receives if recipients else None),
        "first_sent_at": items.aggregate(first=Min("sent_at"))["first"],
        "refresh_seconds": REFRESH_SECONDS if mass_email.status == "in_process" else None,
        "can_send_now": may_change and not refusal(mass_email),
        "can_duplicate": request.user.has_perm("campaigns.add_massemail"),
    }


def started_at(mass_email: MassEmail):
    """The start time set, else when the first message went out (None if neither)."""
    if mass_email.start_at:
        return mass_email.start_at
    items = EmailQueueItem.objects.filter(mass_email=mass_email, is_test=False)
    return items.aggregate(first=Min("sent_at"))["first"]


def started_display(mass_email: MassEmail) -> str:
    started = started_at(mass_email)
    return formats.localize(timezone.localtime(started)) if started else "–"


def started_fieldsets(fieldsets) -> list:
    """`fieldsets` with the start time shown as `started` (read-only pages: when it began)."""

    def swap(fields):
        if isinstance(fields, (list, tuple)):
            return type(fields)(swap(f) for f in fields)
        return "started" if fields == "start_at" else fields

    return [(name, {**options, "fields": swap(options["fields"])}) for name, options in fieldsets]


def send_now_view(model_admin: ModelAdmin, request: HttpRequest, pk: int):
    if not request.user.has_perm("campaigns.change_massemail"):
        raise PermissionDenied
    mass_email = get_object_or_404(MassEmail.objects.select_related("campaign"), pk=pk)
    try:
        send_now(mass_email)
    except SendNowRefused as exc:
        model_admin.message_user(request, _("Not sent now: %(why)s") % {"why": exc}, messages.ERROR)
    else:
        model_admin.message_user(
            request,
            _("Sending starts now, within the hourly limit; this page follows its progress."),
        )
    return HttpResponseRedirect(reverse("admin:campaigns_massemail_change", args=[pk]))


def duplicate_view(model_admin: ModelAdmin, request: HttpRequest, pk: int):
    if not request.user.has_perm("campaigns.add_massemail"):
        raise PermissionDenied
    copy = duplicate_mass_email(get_object_or_404(MassEmail, pk=pk), request.user)
    model_admin.message_user(
        request, _("This is a new Draft copy of the mass email: check it, then set it Pending.")
    )
    return HttpResponseRedirect(reverse("admin:campaigns_massemail_change", args=[copy.pk]))
