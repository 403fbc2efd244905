"""DKIM keys (RFC 6376): per sending domain, a selector and an RSA private key stored encrypted."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm import secrets

SELECTOR = RegexValidator(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
    _("A selector is letters, digits and hyphens, in dot-separated labels (e.g. mail2026)."),
)


class DkimKey(models.Model):
    """The key that signs mail whose From address is at `domain` (subdomains have their own)."""

    domain = models.CharField(
        _("sending domain"),
        max_length=253,
        unique=True,
        help_text=_("The domain of the from address, e.g. shop.example."),
    )
    selector = models.CharField(_("selector"), max_length=63, validators=[SELECTOR])
    private_key_encrypted = models.TextField(editable=False, blank=True)
    public_key = models.TextField(_("public key"), editable=False, blank=True)
    active = models.BooleanField(
        _("sign messages"),
        default=True,
        help_text=_("Publish the DNS record first; turn this on once it is visible."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("DKIM key")
        verbose_name_plural = _("DKIM keys")
        ordering = ["domain"]

    def __str__(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    def save(self, *args, **kwargs) -> None:
        self.domain = self.domain.strip().rstrip(".").lower()
        super().save(*args, **kwargs)

    @property
    def private_key_pem(self) -> str:
        """The PEM private key; raises crm.secrets.SecretUnreadable after a lost SECRET_KEY."""
        return secrets.decrypt(self.private_key_encrypted)

    @property
    def dns_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def dns_value(self) -> str:
        """The TXT record's text (one string; DNS providers split it at 255 characters)."""
        return f"v=DKIM1; k=rsa; p={self.public_key}" if self.public_key else ""

    @property
    def zone_file_line(self) -> str:
        """The record as a zone file line, the text cut into the 255-byte strings DNS allows."""
        value = self.dns_value
        strings = " ".join(f'"{value[i : i + 250]}"' for i in range(0, len(value), 250))
        return f"{self.dns_name}. IN TXT ( {strings} )"

    def clean(self) -> None:
        if self.domain and "@" in self.domain:
            raise ValidationError({"domain": _("Enter the domain only, without a local part.")})
