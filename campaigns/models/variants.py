"""The variants of a mass email's A/B test (campaigns.abtest)."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models.mass_email import MassEmail
from campaigns.models.tracking_codes import check_codes_of_campaign
from crm.models import EmailTemplate

LETTERS = "ABCDE"
MAX_VARIANTS = len(LETTERS)


class MassEmailVariant(models.Model):
    """One version of a mass email: whatever it leaves empty is the mass email's own."""

    mass_email = models.ForeignKey(
        MassEmail, verbose_name=_("mass email"), on_delete=models.CASCADE, related_name="variants"
    )
    letter = models.CharField(
        _("variant"), max_length=1, choices=[(letter, letter) for letter in LETTERS]
    )
    subject = models.CharField(
        _("subject"), max_length=255, blank=True, help_text=_("Empty: the mass email's.")
    )
    preheader = models.CharField(
        _("preheader"), max_length=255, blank=True, help_text=_("Empty: the template's.")
    )
    from_name = models.CharField(
        _("from name"), max_length=255, blank=True, help_text=_("Empty: the mass email's.")
    )
    template = models.ForeignKey(
        EmailTemplate,
        verbose_name=_("email template"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Empty: the mass email's."),
    )

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["mass_email", "letter"]
        constraints = [
            models.UniqueConstraint(fields=["mass_email", "letter"], name="variant_one_letter")
        ]

    def __str__(self) -> str:
        return _("Variant %(letter)s") % {"letter": self.letter}

    def clean(self) -> None:
        if self.letter and self.letter not in LETTERS:
            raise ValidationError({"letter": _("A variant is a letter from A to E.")})
        try:
            mass_email = self.mass_email
        except MassEmail.DoesNotExist:
            return
        # As the mass email's own template is checked once it is Pending (MassEmail.clean).
        ready = mass_email.status == MassEmail.Status.PENDING and mass_email.campaign_id
        if self.template_id and ready:
            try:
                check_codes_of_campaign(self.template, mass_email.campaign)
            except ValidationError as exc:
                raise ValidationError({"template": exc.message_dict["email_template"]}) from exc
