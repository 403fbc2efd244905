"""Follow up non-openers (Mailchimp's "resend"): a new Draft mass email, with another subject,
to the recipients of a sent mass email who did not open it as a person.

Its recipients are chosen when its queue is built (campaigns.sending.queue), not when it is
created, so whoever opens, opts out, bounces or complains in between is left out: recipients
the original reached at least `hours` before, with no person's open or click (a click counts;
a privacy proxy's or a scanner's hits do not), and no opt-out (a complaint opts out), bounce
or invalid address since. Its excluding target lists apply as usual.
"""

from django.db import transaction
from django.utils.translation import gettext as _

from campaigns.authoring.duplicate import COPIED
from campaigns.models import EmailQueueItem, MassEmail

FOLLOWABLE = (MassEmail.Status.COMPLETE, MassEmail.Status.IN_PROCESS, MassEmail.Status.PAUSED)


class CannotFollowUp(ValueError):
    """The mass email cannot be followed up; the message says why."""


def create_follow_up(mass_email: MassEmail, subject: str, hours: int, user=None) -> MassEmail:
    """A Draft follow-up of `mass_email` with `subject`, to its non-openers after `hours`."""
    if not subject.strip():
        raise CannotFollowUp(_("A follow-up needs its own subject."))
    sent = EmailQueueItem.objects.filter(
        mass_email=mass_email, is_test=False, status=EmailQueueItem.Status.SENT
    )
    if mass_email.status not in FOLLOWABLE or not sent.exists():
        raise CannotFollowUp(_("Only a mass email that has sent messages can be followed up."))
    template = mass_email.email_template
    if mass_email.test_winner_id and mass_email.test_winner.template_id:
        template = mass_email.test_winner.template
    with transaction.atomic():
        follow_up = MassEmail(
            name=_("%(name)s (follow-up)") % {"name": mass_email.name},
            status=MassEmail.Status.DRAFT,
            created_by=user,
            subject=subject.strip(),
            follow_up_of=mass_email,
            follow_up_hours=hours,
            **{name: getattr(mass_email, name) for name in COPIED},
        )
        follow_up.email_template = template
        follow_up.save()
        follow_up.excluding_target_lists.set(mass_email.excluding_target_lists.all())
    return follow_up
