"""Copy a mass email as a new Draft: same template, sender, lists, options and A/B variants;
no queue, no test result."""

from django.db import transaction
from django.utils.translation import gettext as _

from campaigns.models import MassEmail, MassEmailVariant

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
# Copied by "Duplicate" too (a follow-up has a subject of its own and no test).
COPIED_SETTINGS = (
    "subject",
    "track_all_links",
    "utm_tags",
    "utm_source",
    "utm_campaign",
    "web_view_link",
    "test_share",
    "test_wait_hours",
    "test_metric",
    "test_confidence",
    "test_min_sample",
    "test_fallback",
)
VARIANT_FIELDS = ("letter", "subject", "preheader", "from_name", "template_id")


def duplicate_mass_email(mass_email: MassEmail, user=None) -> MassEmail:
    """A new Draft copy of `mass_email` (its start time left empty), saved with its lists."""
    with transaction.atomic():
        copy = MassEmail(
            name=_("%(name)s (copy)") % {"name": mass_email.name},
            status=MassEmail.Status.DRAFT,
            created_by=user,
            **{name: getattr(mass_email, name) for name in COPIED + COPIED_SETTINGS},
        )
        copy.save()
        MassEmailVariant.objects.bulk_create(
            MassEmailVariant(
                mass_email=copy, **{name: getattr(variant, name) for name in VARIANT_FIELDS}
            )
            for variant in mass_email.variants.all()
        )
        copy.target_lists.set(mass_email.target_lists.all())
        copy.excluding_target_lists.set(mass_email.excluding_target_lists.all())
    return copy
