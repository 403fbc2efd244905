"""What the sending job shares between its workers: each run's batch budget, each source's
messages-per-second slots, the sent count per minute (campaigns.sending.claims,
campaigns.sending.rate, campaigns.sending.window)."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SendingRun(models.Model):
    """One run of "Send Mass Emails" (a beat tick or `manage.py send_mass_emails`), shared by
    the workers it hands work to: together they claim at most `budget` items (max per batch)."""

    started_at = models.DateTimeField(_("started at"), default=timezone.now, db_index=True)
    budget = models.PositiveIntegerField(_("max per batch"), null=True, blank=True)
    claimed = models.PositiveIntegerField(_("claimed"), default=0)

    class Meta:
        verbose_name = _("sending run")
        verbose_name_plural = _("sending runs")

    def __str__(self) -> str:
        return f"#{self.pk} {self.started_at:%Y-%m-%d %H:%M}"


class SendingSlot(models.Model):
    """When a sending source's next messages-per-second slot comes (seconds since the epoch),
    for workers without Redis (campaigns.sending.rate.DatabaseSlots)."""

    source = models.CharField(max_length=50, unique=True)
    next_slot = models.FloatField()

    def __str__(self) -> str:
        return self.source


class SentMinute(models.Model):
    """How many (non-test) items were sent in one minute, in one of a few rows per minute: the
    hourly window reads these instead of the queue (campaigns.sending.window)."""

    minute = models.DateTimeField(_("minute"))
    shard = models.PositiveSmallIntegerField(_("shard"))
    sent = models.PositiveIntegerField(_("sent"))

    class Meta:
        verbose_name = _("messages sent in a minute")
        verbose_name_plural = _("messages sent per minute")
        constraints = [
            models.UniqueConstraint(fields=["minute", "shard"], name="sentminute_one_per_shard")
        ]

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} #{self.shard}: {self.sent}"
