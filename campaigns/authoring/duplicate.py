"""Copy a mass email as a new Draft: same template, sender, lists and options; no queue."""

from django.db import transaction
from django.utils.translation import gettext as _

from campaigns.models import MassEmail

COPIED = (
    "campaign",
    "email_template",
    "from_address",
    "from_name",
    "reply_to_address",
    "reply_to_name",
    "smtp_account",
    "store_sent_emails",
    "opt_out_entirely",
)


def duplicate_mass_email(mass_email: MassEmail, user=None) -> MassEmail:
    """A new Draft copy of `mass_email` (its start time left empty), saved with its lists."""
    with transaction.atomic():
        copy = MassEmail(
            name=_("%(name)s (copy)") % {"name": mass_email.name},
            status=MassEmail.Status.DRAFT,
            created_by=user,
            **{name: getattr(mass_email, name) for name in COPIED},
        )
        copy.save()
        copy.target_lists.set(mass_email.target_lists.all())
        copy.excluding_target_lists.set(mass_email.excluding_target_lists.all())
    return copy
