"""The event stream's tables: the outbox every floor writes to, and each consumer's position."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models.people import TargetType


class Event(models.Model):
    """Something that happened to a person, a list, a mass email or an import, written in the
    same transaction as the change itself (crm/events.py).

    `tx` orders the stream so that a consumer never passes over a row whose transaction is
    still open: on PostgreSQL a trigger stores the writing transaction's id (migration
    0014), and a reader takes only rows of transactions older than every one still running;
    SQLite has one writer at a time, so its rows keep 0 and the id alone orders them.
    """

    id = models.BigAutoField(primary_key=True)
    tx = models.BigIntegerField(default=0, editable=False)
    type = models.CharField(_("type"), max_length=64)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    person_type = models.CharField(
        _("person type"), max_length=16, choices=TargetType.choices, blank=True
    )
    person_id = models.BigIntegerField(_("person id"), null=True, blank=True)
    data = models.JSONField(_("data"), default=dict)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [models.Index(fields=["tx", "id"], name="event_stream_order")]

    def __str__(self) -> str:
        return f"{self.type} #{self.id}"

    @property
    def position(self) -> tuple[int, int]:
        return (self.tx, self.id)


class EventConsumer(models.Model):
    """How far one consumer (webhook delivery, automation triggers) has read the stream."""

    name = models.CharField(max_length=64, primary_key=True)
    tx = models.BigIntegerField(default=0)
    event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("event consumer")
        verbose_name_plural = _("event consumers")

    def __str__(self) -> str:
        return self.name
