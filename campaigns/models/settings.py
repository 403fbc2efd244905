"""Mass-email settings an administrator sets in the admin (a single row)."""

from django.conf import settings
from django.core.validators import MinValueValidator, URLValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class MassEmailSettings(models.Model):
    max_per_hour = models.PositiveIntegerField(
        _("max emails per hour"), default=100, validators=[MinValueValidator(1)]
    )
    max_per_batch = models.PositiveIntegerField(
        _("max emails per batch"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: no limit beyond the hourly one."),
    )
    open_tracking = models.BooleanField(
        _("track opens"),
        default=False,
        help_text=_("Adds a 1×1 image to HTML emails. Off for privacy."),
    )
    verp = models.BooleanField(
        _("VERP return path"),
        default=False,
        help_text=_("Envelope sender bounce+SIGNED-ID@domain, so bounces match their recipient."),
    )
    verp_domain = models.CharField(_("VERP domain"), max_length=255, blank=True)
    disable_opt_out_link = models.BooleanField(
        _("disable the mandatory opt-out link"),
        default=False,
        help_text=_("When off, an opt-out link is added to emails whose template has none."),
    )
    max_attempts = models.PositiveSmallIntegerField(
        _("max attempts"), default=3, validators=[MinValueValidator(1)]
    )
    soft_bounce_limit = models.PositiveSmallIntegerField(
        _("soft bounces before invalid"), default=3, validators=[MinValueValidator(1)]
    )
    esp = models.CharField(
        _("email service provider"),
        max_length=20,
        blank=True,
        choices=[
            ("amazon_ses", "Amazon SES"),
            ("mailgun", "Mailgun"),
            ("postmark", "Postmark"),
            ("sendgrid", "SendGrid"),
        ],
        help_text=_(
            "When the SMTP server is this provider's relay, each email carries its signed id in "
            "the provider's metadata, so the provider's webhook events reach the campaign log."
        ),
    )
    site_url = models.CharField(
        _("site URL"),
        max_length=255,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=_("Used in tracking and opt-out links; must be reachable by recipients."),
    )

    class Meta:
        verbose_name = _("mass email settings")
        verbose_name_plural = _("mass email settings")

    def __str__(self) -> str:
        return str(_("Mass email settings"))

    @classmethod
    def load(cls) -> "MassEmailSettings":
        row, _created = cls.objects.get_or_create(pk=1, defaults={"site_url": settings.SITE_URL})
        return row

    @property
    def base_url(self) -> str:
        return (self.site_url or settings.SITE_URL).rstrip("/")
