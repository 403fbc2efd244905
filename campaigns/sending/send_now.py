"""Send now: run the sending job at once for a due mass email instead of waiting for the beat.

The job is the usual one (campaigns.tasks.send_mass_emails), so the hourly limit, the claims and
the job log apply as for a scheduled run.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import MassEmail


class SendNowRefused(Exception):
    """The mass email cannot be sent now; the message says why."""


def refusal(mass_email: MassEmail, now=None) -> str:
    """Why `mass_email` cannot be sent now; empty when it can."""
    now = now or timezone.now()
    if mass_email.status not in (MassEmail.Status.PENDING, MassEmail.Status.IN_PROCESS):
        return _("Only a Pending or In Process mass email can be sent now.")
    if mass_email.start_at and mass_email.start_at > now:
        return _("Its start time has not come yet.")
    if mass_email.campaign.status == "inactive":
        return _("Its campaign is inactive.")
    return ""


def send_now(mass_email: MassEmail) -> None:
    """Enqueue one run of the sending job once the current transaction commits.

    Raises SendNowRefused when the mass email is not due (see `refusal`)."""
    reason = refusal(mass_email)
    if reason:
        raise SendNowRefused(reason)
    from campaigns.tasks import send_mass_emails

    transaction.on_commit(send_mass_emails.delay)
