"""Signup forms (EspoCRM's Lead Capture): hosted pages that create Leads and subscribe them."""

import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, TrackingUrl
from crm.models import EmailAddress, EmailTemplate, Lead
from targetlists.models import TargetList


def new_form_key() -> str:
    return secrets.token_urlsafe(12)


class SignupForm(models.Model):
    """What a public signup page asks, whom it subscribes to what, and what it answers."""

    class Language(models.TextChoices):
        BROWSER = "", _("The visitor's browser language")
        ENGLISH = "en", "English"
        SPANISH = "es", "Español"

    name = models.CharField(_("name"), max_length=255)
    key = models.CharField(max_length=32, unique=True, default=new_form_key, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    title = models.CharField(_("page title"), max_length=255, blank=True)
    introduction = models.TextField(_("introduction"), blank=True)
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="signup_forms",
        help_text=_("Lead Created and Opted In are logged in this campaign."),
    )
    target_lists = models.ManyToManyField(
        TargetList, verbose_name=_("target lists"), related_name="signup_forms"
    )
    ask_first_name = models.BooleanField(_("ask the first name"), default=True)
    ask_last_name = models.BooleanField(_("ask the last name"), default=True)
    ask_company = models.BooleanField(_("ask the company"), default=False)
    double_opt_in = models.BooleanField(
        _("double opt-in"),
        default=True,
        help_text=_("Send a confirmation email; only the confirmation subscribes the person."),
    )
    confirmation_template = models.ForeignKey(
        EmailTemplate,
        verbose_name=_("confirmation email template"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_(
            "Its subject and body, person placeholders filled; the confirmation link is added "
            "below the body. Empty: a short built-in message."
        ),
    )
    consent_text = models.TextField(
        _("consent text"),
        blank=True,
        help_text=_("What the person agrees to by signing up; kept with each consent record."),
    )
    text_version = models.PositiveIntegerField(_("consent text version"), default=1)
    thank_you_text = models.TextField(_("thank-you text"), blank=True)
    redirect_link = models.ForeignKey(
        TrackingUrl,
        verbose_name=_("redirect to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("A tracking URL of the campaign to send people to instead of the text."),
    )
    lead_source = models.CharField(_("lead source"), max_length=100, default="Web form")
    language = models.CharField(
        _("language"), max_length=5, choices=Language, blank=True, default=Language.BROWSER
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("signup form")
        verbose_name_plural = _("signup forms")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        link = self.redirect_link
        if link is not None and (link.campaign_id != self.campaign_id or not link.url):
            raise ValidationError(
                {"redirect_link": _("Choose a redirecting tracking URL of the form's campaign.")}
            )


class SignupSubmission(models.Model):
    """One accepted POST: its form token's nonce (a replay is refused) and what rate limits
    count (a hashed address and client)."""

    form = models.ForeignKey(SignupForm, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=32, unique=True)
    address_hash = models.CharField(max_length=64, blank=True)
    client_hash = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["address_hash", "at"]),
            models.Index(fields=["client_hash", "at"]),
        ]

    def __str__(self) -> str:
        return f"{self.form_id} {self.at:%Y-%m-%d %H:%M}"


class SignupConfirmation(models.Model):
    """A double opt-in waiting for (or done by) the person's click on the emailed link."""

    form = models.ForeignKey(
        SignupForm, verbose_name=_("signup form"), on_delete=models.CASCADE, related_name="+"
    )
    lead = models.ForeignKey(
        Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="+"
    )
    email_address = models.ForeignKey(
        EmailAddress, verbose_name=_("email address"), on_delete=models.CASCADE, related_name="+"
    )
    text = models.TextField(_("text agreed to"), blank=True)
    text_version = models.PositiveIntegerField(_("text version"), null=True)
    client_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    email_sent_at = models.DateTimeField(_("email sent at"), null=True, blank=True)
    email_error = models.TextField(_("email error"), blank=True)
    # Set while a worker sends the email (people.signup.send_queued_confirmation), so that a
    # task delivered twice sends it once.
    email_claimed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("signup confirmation")
        verbose_name_plural = _("signup confirmations")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email_address} ({self.form})"
