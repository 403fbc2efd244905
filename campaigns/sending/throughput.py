"""The rate sending reaches now: messages a second over the last minute, per sending source and
per mass email, counted from the queue's sent times (the partial index on sent_at), and when a
mass email's rest goes out at that rate."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count
from django.utils import timezone

from campaigns.models import EmailQueueItem, MassEmail
from crm.jobs import SEND_MASS_EMAILS, SEND_MASS_EMAILS_HELPING
from crm.models import EmailAccount, JobRun, OutboundEmailSettings

WINDOW = datetime.timedelta(minutes=1)


@dataclass(frozen=True)
class SourceRate:
    """What one sending source reached over the last minute, beside its own settings."""

    name: str
    per_second: float
    connections: int
    limit: Decimal | None  # its messages per second, all workers together; None: no limit
    workers: int  # runs and helping workers sending now


def _sent_since(now: datetime.datetime):
    return EmailQueueItem.objects.filter(sent_at__gte=now - WINDOW, is_test=False)


def source_rates(now: datetime.datetime | None = None) -> list[SourceRate]:
    """Each source that sent in the last minute, fastest first."""
    now = now or timezone.now()
    sent = _sent_since(now).order_by().values_list("mass_email__smtp_account_id")
    counts = dict(sent.annotate(n=Count("id")))
    jobs = [SEND_MASS_EMAILS, SEND_MASS_EMAILS_HELPING]
    workers = JobRun.objects.filter(job__in=jobs, status=JobRun.Status.RUNNING).count()
    accounts = EmailAccount.objects.in_bulk([key for key in counts if key is not None])
    rates = []
    for account_id, n in counts.items():
        source = accounts.get(account_id) if account_id else OutboundEmailSettings.load()
        if source is None:
            continue
        name = str(source)
        per_second = n / WINDOW.total_seconds()
        rates.append(
            SourceRate(name, per_second, source.connections, source.messages_per_second, workers)
        )
    return sorted(rates, key=lambda rate: -rate.per_second)


def mass_email_rate(mass_email: MassEmail, now: datetime.datetime | None = None) -> float:
    """Messages a second `mass_email` sent over the last minute."""
    now = now or timezone.now()
    sent = _sent_since(now).filter(mass_email=mass_email).count()
    return sent / WINDOW.total_seconds()


def finish_at_rate(
    remaining: int, per_second: float, now: datetime.datetime | None = None
) -> datetime.datetime | None:
    """When `remaining` messages are out at `per_second`; None when nothing is being sent."""
    if not remaining or per_second <= 0:
        return None
    return (now or timezone.now()) + datetime.timedelta(seconds=remaining / per_second)
