"""What the sending job shares between its workers: each run's batch budget, each source's
messages-per-second slots (campaigns.sending.claims, campaigns.sending.rate)."""

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
