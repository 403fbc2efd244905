"""Scheduling a mass email: Draft (or Pending, to move its time) to Pending from `start_at`,
and back to Draft. What the admin's status field does, as functions the API calls too.

The change is one conditional UPDATE (only from the statuses allowed), so a mass email the
sending job took up meanwhile is never set back to Pending. A mass email set to Pending is
checked as the admin's form checks it (its campaign takes mass emails; its template's tracking
URL codes are its campaign's).
"""

from datetime import datetime

from django.utils.translation import gettext as _

from campaigns.models import MassEmail

Status = MassEmail.Status


class ScheduleRefused(Exception):
    """The mass email's status does not allow this change; the message says why."""


def schedule(mass_email: MassEmail, start_at: datetime | None) -> None:
    """Set a Draft or Pending mass email Pending, to go out from `start_at` (None: now).
    Raises ScheduleRefused (status) or ValidationError (what the admin's form would say)."""
    checked = MassEmail.objects.select_related("campaign", "email_template").get(pk=mass_email.pk)
    checked.status, checked.start_at = Status.PENDING, start_at
    checked.full_clean(exclude=["target_lists", "excluding_target_lists"])
    changed = MassEmail.objects.filter(pk=mass_email.pk, status__in=MassEmail.EDITABLE_STATUSES)
    if not changed.update(status=Status.PENDING, start_at=start_at):
        raise ScheduleRefused(_refusal(mass_email))
    mass_email.refresh_from_db()


def unschedule(mass_email: MassEmail) -> None:
    """Set a Pending mass email back to Draft (nothing is queued for it yet)."""
    changed = MassEmail.objects.filter(pk=mass_email.pk, status=Status.PENDING)
    if not changed.update(status=Status.DRAFT):
        raise ScheduleRefused(_refusal(mass_email, _("Only a Pending mass email")))
    mass_email.refresh_from_db()


def _refusal(mass_email: MassEmail, allowed: str = "") -> str:
    status = MassEmail.objects.filter(pk=mass_email.pk).values_list("status", flat=True).first()
    label = Status(status).label if status else _("deleted")
    return _("%(allowed)s can change this way; this one is %(status)s.") % {
        "allowed": allowed or _("Only a Draft or Pending mass email"),
        "status": label,
    }
