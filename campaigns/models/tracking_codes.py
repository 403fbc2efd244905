"""`{trackingUrl:N}` codes in templates, checked twice.

A template may only name tracking URLs that exist (`check_codes_exist`, run by
EmailTemplate.clean() through the check CampaignsConfig.ready registers, since crm may not import
campaigns), and a mass email set to Pending only those of its campaign (`check_codes_of_campaign`).
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from campaigns.models.campaign import Campaign, TrackingUrl
from crm import placeholders

TEMPLATE_FIELDS = ("subject", "preheader", "body_html", "body_text")


def codes_in(text: str) -> list[int]:
    """The tracking URL ids `text` names, in order, each once; raises PlaceholderError."""
    ids = [piece.tracking_url_id for piece in placeholders.validate(text)]
    return list(dict.fromkeys(i for i in ids if i is not None))


def _codes(ids: list[int]) -> str:
    return ", ".join(f"{{trackingUrl:{i}}}" for i in ids)


def check_codes_exist(template) -> None:
    """Raises ValidationError (per field) for a {trackingUrl:N} that matches no tracking URL."""
    by_field = {field: codes_in(getattr(template, field)) for field in TEMPLATE_FIELDS}
    named = set().union(*by_field.values())
    existing = set(TrackingUrl.objects.filter(pk__in=named).values_list("pk", flat=True))
    errors = {}
    for field, ids in by_field.items():
        unknown = [i for i in ids if i not in existing]
        if unknown:
            message = _("%(codes)s matches no tracking URL; copy the code from a campaign's list.")
            errors[field] = message % {"codes": _codes(unknown)}
    if errors:
        raise ValidationError(errors)


def check_codes_of_campaign(template, campaign: Campaign) -> None:
    """Raises ValidationError naming every code of `template` that is not of `campaign`."""
    try:
        ids = set().union(*(codes_in(getattr(template, field)) for field in TEMPLATE_FIELDS))
    except placeholders.PlaceholderError as exc:
        raise ValidationError({"email_template": str(exc)}) from exc
    ours = set(campaign.tracking_urls.filter(pk__in=ids).values_list("pk", flat=True))
    foreign = sorted(ids - ours)
    if foreign:
        message = _(
            "The template “%(template)s” links to %(codes)s, not tracking URLs of the campaign "
            "“%(campaign)s”; use the codes listed on the campaign."
        )
        raise ValidationError(
            {
                "email_template": message
                % {"template": template.name, "codes": _codes(foreign), "campaign": campaign.name}
            }
        )
