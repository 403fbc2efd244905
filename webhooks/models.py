"""Webhook endpoints, the deliveries due to them, and the log of each attempt."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from crm import secrets
from targetlists.models import TargetList

ATTEMPTS_KEPT = timedelta(days=30)
PREVIOUS_SECRET_KEPT = timedelta(hours=24)


class Endpoint(models.Model):
    """A URL that hears of the events it asks for, signed to the Standard Webhooks spec."""

    url = models.URLField(_("URL"), max_length=2000)
    description = models.CharField(_("description"), max_length=255, blank=True)
    # Event types (crm.events.TYPES); empty: every type.
    events = models.JSONField(_("events"), default=list, blank=True)
    target_lists = models.ManyToManyField(
        TargetList,
        verbose_name=_("only these target lists"),
        blank=True,
        related_name="webhook_endpoints",
        help_text=_("Events about other lists are not sent; neither are events without a list."),
    )
    campaigns = models.ManyToManyField(
        Campaign,
        verbose_name=_("only these campaigns"),
        blank=True,
        related_name="webhook_endpoints",
        help_text=_("Events of other campaigns are not sent; neither are events without one."),
    )
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(editable=False, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=255, blank=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    batch_size = models.PositiveIntegerField(
        _("email events per delivery"),
        default=1,
        help_text=_(
            "Above 1, email events (sent, opened, clicked…) go out up to this many in one "
            "delivery, as a batch."
        ),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_endpoints",
    )
    # The first failure of the current run of failures; None after a success.
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.description or self.url

    @property
    def secret(self) -> str:
        return secrets.decrypt(self.secret_encrypted)

    def signing_secrets(self, now=None) -> list[str]:
        """The current secret, and the one before it for 24 hours after a rotation."""
        now = now or timezone.now()
        found = [self.secret]
        if (
            self.previous_secret_encrypted
            and self.previous_secret_until
            and (self.previous_secret_until > now)
        ):
            found.append(secrets.decrypt(self.previous_secret_encrypted))
        return found


class Delivery(models.Model):
    """One message to an endpoint: one event, or a batch of email events."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERING = "delivering", _("Delivering")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(
        Endpoint, verbose_name=_("endpoint"), on_delete=models.CASCADE, related_name="deliveries"
    )
    message_id = models.CharField(_("message id"), max_length=64, unique=True)
    event_type = models.CharField(_("type"), max_length=64)
    event_ids = models.JSONField(_("events"), default=list)
    payload = models.JSONField(_("payload"))
    # "contact:12": deliveries of one person to one endpoint go out in order of creation.
    person = models.CharField(_("person"), max_length=40, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_status_code = models.PositiveIntegerField(_("last status code"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="webhook_delivery_due",
                condition=models.Q(status__in=["pending", "delivering"]),
            ),
            models.Index(
                fields=["endpoint", "person", "id"],
                name="webhook_delivery_person",
                condition=models.Q(status__in=["pending", "delivering"]),
            ),
            models.Index(fields=["endpoint", "status", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.message_id


class Attempt(models.Model):
    """One try at a delivery: what the endpoint answered and how long it took (30 days kept)."""

    delivery = models.ForeignKey(
        Delivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="attempt_log"
    )
    endpoint = models.ForeignKey(
        Endpoint, verbose_name=_("endpoint"), on_delete=models.CASCADE, related_name="attempts"
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    status_code = models.PositiveIntegerField(_("status code"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    response = models.TextField(_("answer (first 2 KB)"), blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    succeeded = models.BooleanField(_("succeeded"), default=False)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["endpoint", "at"]), models.Index(fields=["at"])]

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.at:%Y-%m-%d %H:%M:%S}"
