"""What people agreed to: one record per opt-in and opt-out, and addresses suppressed for good."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models.people import EmailAddress, TargetFields, target_key


class ConsentRecord(TargetFields):
    """One opt-in or opt-out: when, how, what text the person agreed to, from where (hashed)."""

    class Action(models.TextChoices):
        OPT_IN = "opt_in", _("Opted in")
        OPT_OUT = "opt_out", _("Opted out")

    class Method(models.TextChoices):
        FORM = "form", _("Signup form")
        IMPORT = "import", _("Import")
        ONE_CLICK = "one_click", _("One-click unsubscribe")
        PAGE = "page", _("Opt-out page")
        PREFERENCES = "preferences", _("Preference center")
        COMPLAINT = "complaint", _("Spam complaint")
        ESP = "esp", _("Email service provider")
        API = "api", _("API (another system)")

    email_address = models.ForeignKey(
        EmailAddress,
        verbose_name=_("email address"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="consent_records",
    )
    email = models.CharField(_("email"), max_length=254, blank=True)
    action = models.CharField(_("action"), max_length=10, choices=Action)
    method = models.CharField(_("how"), max_length=12, choices=Method)
    at = models.DateTimeField(_("when"), auto_now_add=True)
    source = models.CharField(
        _("source"), max_length=255, blank=True, help_text=_("The form, import or mass email.")
    )
    text = models.TextField(_("text agreed to"), blank=True)
    text_version = models.PositiveIntegerField(_("text version"), null=True, blank=True)
    client_hash = models.CharField(_("client (hashed)"), max_length=64, blank=True)

    # Every target optional: a suppression import records an address without a person.
    # Indexed by target_indexes() below, as in TargetFields.
    account = target_key("crm.Account", _("account"), models.SET_NULL)
    contact = target_key("crm.Contact", _("contact"), models.SET_NULL)
    lead = target_key("crm.Lead", _("lead"), models.SET_NULL)
    user = target_key(settings.AUTH_USER_MODEL, _("user"), models.SET_NULL)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-at", "-id"]
        constraints = [TargetFields.one_target_constraint("consent_one_target", allow_none=True)]
        indexes = [
            *TargetFields.target_indexes("consent"),
            # The dashboard's opt-outs per week and complaints (campaigns.dashboard).
            models.Index(fields=["action", "at"], name="consent_action_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.email} ({self.get_method_display()})"


class SuppressedAddress(models.Model):
    """An erased person's address, kept only as a hash, so nothing adds it again."""

    address_hash = models.CharField(_("address (hashed)"), max_length=64, unique=True)
    at = models.DateTimeField(_("erased at"), auto_now_add=True)

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppressed addresses")
        ordering = ["-at"]

    def __str__(self) -> str:
        return self.address_hash[:12]
