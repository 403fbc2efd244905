"""Every request a recipient's email brings back, kept apart from the campaign log.

The campaign log holds one Opened per queue item and one Clicked per (item, link), as EspoCRM
does; a TrackingHit is written for every hit, with what tells a person from a machine, so the
statistics can show human figures beside the totals. No raw client address is stored.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, EmailQueueItem, TrackingUrl


class TrackingHit(models.Model):
    class Kind(models.TextChoices):
        OPEN = "open", _("Open")
        CLICK = "click", _("Click")
        TRAP = "trap", _("Hidden link")
        OPT_OUT = "opt_out", _("Opt-out page")
        ONE_CLICK = "one_click", _("One-click unsubscribe")

    class Reason(models.TextChoices):
        HUMAN = "", _("Human")
        PROXY = "proxy", _("Prefetching proxy")
        SCANNER = "scanner", _("Security scanner")
        TRAP = "trap", _("Hidden link clicked")
        TOO_SOON = "too_soon", _("Clicked seconds after sending")
        BURST = "burst", _("Links clicked in one burst")

    # Both foreign keys lead a composite index below, so they need no index of their own:
    # every hit writes each index, and the pixel is the busiest URL of the product.
    queue_item = models.ForeignKey(
        EmailQueueItem,
        verbose_name=_("queue item"),
        on_delete=models.CASCADE,
        related_name="tracking_hits",
        db_index=False,
    )
    # Copied from the queue item so the statistics aggregate over one indexed table.
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    is_test = models.BooleanField(_("test"), default=False)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind)
    tracking_url = models.ForeignKey(
        TrackingUrl,
        verbose_name=_("tracking URL"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    client_hash = models.CharField(_("client (hashed)"), max_length=32, blank=True)
    is_machine = models.BooleanField(_("machine"), default=False)
    reason = models.CharField(_("reason"), max_length=10, choices=Reason, blank=True)

    class Meta:
        verbose_name = _("tracking hit")
        verbose_name_plural = _("tracking hits")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(
                fields=["campaign", "is_test", "is_machine", "kind", "queue_item"],
                name="trackinghit_human_figures",
            ),
            models.Index(fields=["queue_item", "kind", "at"], name="trackinghit_item_kind_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.queue_item_id} {self.at:%Y-%m-%d %H:%M:%S}"


class OptOutReason(models.Model):
    """Why a recipient unsubscribed, when they said (a fixed choice and/or their own words)."""

    class Choice(models.TextChoices):
        TOO_MANY = "too_many", _("I receive too many emails")
        NOT_RELEVANT = "not_relevant", _("The content is not relevant to me")
        NEVER_SIGNED_UP = "never_signed_up", _("I never signed up")
        OTHER = "other", _("Another reason")

    queue_item = models.ForeignKey(
        EmailQueueItem, verbose_name=_("queue item"), on_delete=models.CASCADE, related_name="+"
    )
    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Choice, blank=True)
    text = models.TextField(_("in their words"), max_length=1000, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("opt-out reason")
        verbose_name_plural = _("opt-out reasons")
        ordering = ["-at"]
        indexes = [models.Index(fields=["campaign", "reason"])]

    def __str__(self) -> str:
        return self.get_reason_display() or self.text[:40]
