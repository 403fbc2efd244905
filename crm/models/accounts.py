"""Where mail goes out and comes in: the system SMTP settings and configured email accounts."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm import secrets
from crm.address_fields import AddressField


class Security(models.TextChoices):
    NONE = "none", _("None")
    STARTTLS = "starttls", _("STARTTLS")
    SSL = "ssl", _("SSL/TLS")


class SendingMethod(models.TextChoices):
    """How a source's mail leaves: its SMTP server, or an ESP's HTTP API (django-anymail)."""

    SMTP = "smtp", _("SMTP")
    POSTMARK = "postmark", _("Postmark API")
    MAILGUN = "mailgun", _("Mailgun API")
    SENDGRID = "sendgrid", _("SendGrid API")
    AMAZON_SES = "amazon_ses", _("Amazon SES API")


# What each ESP method needs besides its API key (docs/delivery.md, "ESP APIs").
ESP_REQUIRED_FIELDS = {
    SendingMethod.POSTMARK: (),
    SendingMethod.MAILGUN: ("esp_domain", "esp_region"),
    SendingMethod.SENDGRID: (),
    SendingMethod.AMAZON_SES: ("esp_access_key_id", "esp_region"),
}
MAILGUN_REGIONS = ("us", "eu")

# Sessions per worker and source: beyond this, threads cost more than they hide latency.
MAX_CONNECTIONS = 200


class SmtpFields(models.Model):
    """SMTP connection fields; the password is stored encrypted and never shown again."""

    smtp_host = models.CharField(_("SMTP host"), max_length=255, blank=True)
    smtp_port = models.PositiveIntegerField(_("SMTP port"), default=25)
    smtp_security = models.CharField(
        _("SMTP security"), max_length=10, choices=Security, default=Security.NONE
    )
    smtp_username = models.CharField(_("SMTP user"), max_length=255, blank=True)
    smtp_password_encrypted = models.TextField(editable=False, blank=True)
    # How hard the sending job may push this source (docs/delivery.md, "Sizing").
    connections = models.PositiveSmallIntegerField(
        _("connections"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CONNECTIONS)],
        help_text=_(
            "Sessions each worker keeps open to this server at once. A relay tens of "
            "milliseconds away needs several to send more than a few messages a second."
        ),
    )
    messages_per_session = models.PositiveIntegerField(
        _("messages per session"),
        default=0,
        help_text=_(
            "A session is closed and a new one opened after this many messages; 0 for no limit. "
            "Some relays (Amazon SES among them) close a session after a number of messages."
        ),
    )
    messages_per_second = models.DecimalField(
        _("messages per second"),
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_(
            "The most this source may send in any one second, all workers together; empty for "
            "no limit. Amazon SES accounts start at 14."
        ),
    )

    # Sending through an ESP's HTTP API instead (campaigns.sending.esp).
    sending_method = models.CharField(
        _("sending method"),
        max_length=20,
        choices=SendingMethod,
        default=SendingMethod.SMTP,
        help_text=_(
            "SMTP, or an email service provider's HTTP API. With an API the SMTP fields are not "
            "used; connections are the API calls made at once by each worker."
        ),
    )
    esp_api_key_encrypted = models.TextField(editable=False, blank=True)
    esp_access_key_id = models.CharField(
        _("access key ID"),
        max_length=255,
        blank=True,
        help_text=_("Amazon SES only: the IAM access key ID (the API key is its secret)."),
    )
    esp_region = models.CharField(
        _("region"),
        max_length=40,
        blank=True,
        help_text=_("Amazon SES: the AWS region, e.g. eu-west-1. Mailgun: us or eu."),
    )
    esp_domain = models.CharField(
        _("sending domain"),
        max_length=255,
        blank=True,
        help_text=_("Mailgun only: the sending domain as set up in Mailgun."),
    )
    esp_api_url = models.URLField(
        _("API base URL"),
        blank=True,
        help_text=_(
            "Leave empty for the provider's own address; set it for a proxy or a test server."
        ),
    )

    class Meta:
        abstract = True

    @property
    def uses_esp_api(self) -> bool:
        return self.sending_method != SendingMethod.SMTP

    @property
    def esp_api_key(self) -> str:
        return secrets.decrypt(self.esp_api_key_encrypted)

    @esp_api_key.setter
    def esp_api_key(self, value: str) -> None:
        self.esp_api_key_encrypted = secrets.encrypt(value)

    def esp_problems(self) -> dict[str, str]:
        """What the chosen ESP method lacks, by field name ({} when it can send, or when the
        method is not one there is: its own field says so)."""
        if not self.uses_esp_api or self.sending_method not in ESP_REQUIRED_FIELDS:
            return {}
        problems = {}
        if not self.esp_api_key_encrypted:
            problems["esp_api_key"] = str(_("This sending method needs its API key."))
        for name in ESP_REQUIRED_FIELDS[self.sending_method]:
            if not getattr(self, name):
                problems[name] = str(_("This sending method needs this field."))
        region = self.esp_region.strip().lower()
        if (
            self.sending_method == SendingMethod.MAILGUN
            and region
            and region not in MAILGUN_REGIONS
        ):
            problems["esp_region"] = str(_("Mailgun's region is us or eu."))
        return problems

    @property
    def smtp_password(self) -> str:
        return secrets.decrypt(self.smtp_password_encrypted)

    @smtp_password.setter
    def smtp_password(self, value: str) -> None:
        self.smtp_password_encrypted = secrets.encrypt(value)


class OutboundEmailSettings(SmtpFields):
    """The system SMTP account (a single row), used unless a mass email names another account."""

    from_address = AddressField(_("from address"), blank=True)
    from_name = models.CharField(_("from name"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("outbound email settings")
        verbose_name_plural = _("outbound email settings")

    def __str__(self) -> str:
        return str(_("Outbound email"))

    @classmethod
    def load(cls) -> "OutboundEmailSettings":
        """The single settings row, created with the environment's first defaults."""
        row, _created = cls.objects.get_or_create(
            pk=1,
            defaults={
                "smtp_host": settings.EMAIL_HOST,
                "smtp_port": settings.EMAIL_PORT,
                "from_address": settings.DEFAULT_FROM_EMAIL,
            },
        )
        return row


class EmailAccount(SmtpFields):
    """A group email account: an SMTP identity to send from and/or an IMAP mailbox to watch."""

    name = models.CharField(_("name"), max_length=255)
    email_address = AddressField(_("email address"))
    from_name = models.CharField(_("from name"), max_length=255, blank=True)
    use_smtp = models.BooleanField(_("use for sending"), default=False)
    imap_host = models.CharField(_("IMAP host"), max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_security = models.CharField(
        _("IMAP security"), max_length=10, choices=Security, default=Security.SSL
    )
    imap_username = models.CharField(_("IMAP user"), max_length=255, blank=True)
    imap_password_encrypted = models.TextField(editable=False, blank=True)
    imap_folder = models.CharField(_("IMAP folder"), max_length=255, default="INBOX")
    monitor_bounces = models.BooleanField(
        _("check for bounces"),
        default=False,
        help_text=_("Read this mailbox for returned mail (the job 'Check Group Email Accounts')."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    # Where the bounce check stopped reading the folder (tracking.mailboxes).
    imap_uid_validity = models.BigIntegerField(null=True, blank=True, editable=False)
    imap_last_uid = models.BigIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("group email account")
        verbose_name_plural = _("group email accounts")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email_address}>"

    @property
    def imap_password(self) -> str:
        return secrets.decrypt(self.imap_password_encrypted)

    @imap_password.setter
    def imap_password(self, value: str) -> None:
        self.imap_password_encrypted = secrets.encrypt(value)
