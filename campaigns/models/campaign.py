"""Campaigns and their tracking URLs, with the rules EspoCRM users rely on."""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from targetlists.models import TargetList


class CampaignStatus(models.TextChoices):
    PLANNING = "planning", _("Planning")
    ACTIVE = "active", _("Active")
    INACTIVE = "inactive", _("Inactive")
    COMPLETE = "complete", _("Complete")


class CampaignType(models.TextChoices):
    EMAIL = "email", _("Email")
    NEWSLETTER = "newsletter", _("Newsletter")
    INFORMATIONAL = "informational", _("Informational Email")
    WEB = "web", _("Web")
    TELEVISION = "television", _("Television")
    RADIO = "radio", _("Radio")
    MAIL = "mail", _("Mail")


MASS_EMAIL_TYPES = {CampaignType.EMAIL, CampaignType.NEWSLETTER, CampaignType.INFORMATIONAL}
TRACKING_URL_TYPES = {CampaignType.EMAIL, CampaignType.NEWSLETTER}


class Campaign(models.Model):
    name = models.CharField(_("name"), max_length=255)
    status = models.CharField(
        _("status"), max_length=20, choices=CampaignStatus, default=CampaignStatus.PLANNING
    )
    type = models.CharField(
        _("type"), max_length=20, choices=CampaignType, default=CampaignType.EMAIL
    )
    start_date = models.DateField(_("start date"), null=True, blank=True)
    end_date = models.DateField(_("end date"), null=True, blank=True)
    budget = models.DecimalField(
        _("budget"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    description = models.TextField(_("description"), blank=True)
    target_lists = models.ManyToManyField(
        TargetList, verbose_name=_("target lists"), blank=True, related_name="campaigns"
    )
    excluding_target_lists = models.ManyToManyField(
        TargetList,
        verbose_name=_("excluding target lists"),
        blank=True,
        related_name="excluding_campaigns",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__isnull=True)
                | models.Q(start_date__isnull=True)
                | models.Q(end_date__gte=models.F("start_date")),
                name="campaign_end_not_before_start",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def allows_mass_email(self) -> bool:
        return self.type in MASS_EMAIL_TYPES

    @property
    def allows_tracking_urls(self) -> bool:
        return self.type in TRACKING_URL_TYPES

    @property
    def is_informational(self) -> bool:
        return self.type == CampaignType.INFORMATIONAL

    def clean(self) -> None:
        errors = {}
        if self.start_date and self.end_date and self.end_date < self.start_date:
            errors["end_date"] = _("The end date cannot be before the start date.")
        if self.pk:
            stored_type = Campaign.objects.filter(pk=self.pk).values_list("type", flat=True).first()
            if stored_type and stored_type != self.type and self.mass_emails.exists():
                errors["type"] = _("The type cannot change once the campaign has a mass email.")
        if errors:
            raise ValidationError(errors)


class TrackingUrl(models.Model):
    class Action(models.TextChoices):
        REDIRECT = "redirect", _("Redirect")
        SHOW_MESSAGE = "show_message", _("Show Message")

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="tracking_urls"
    )
    name = models.CharField(_("name"), max_length=255)
    url = models.URLField(
        _("URL"), max_length=2000, blank=True, validators=[URLValidator(schemes=["http", "https"])]
    )
    action = models.CharField(_("action"), max_length=20, choices=Action, default=Action.REDIRECT)
    message = models.TextField(_("message"), blank=True)

    class Meta:
        verbose_name = _("tracking URL")
        verbose_name_plural = _("tracking URLs")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def code(self) -> str:
        """What the marketer pastes into a template."""
        return f"{{trackingUrl:{self.pk}}}" if self.pk else ""

    def clean(self) -> None:
        errors = {}
        if self.campaign_id and not self.campaign.allows_tracking_urls:
            errors["campaign"] = _("Tracking URLs are only for Email and Newsletter campaigns.")
        if self.action == self.Action.REDIRECT and not self.url:
            errors["url"] = _("A redirecting tracking URL needs a URL.")
        if self.action == self.Action.SHOW_MESSAGE and not self.message.strip():
            errors["message"] = _("Write the message to show.")
        if errors:
            raise ValidationError(errors)
