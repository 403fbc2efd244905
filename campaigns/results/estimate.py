"""When sending will happen: the next run of "Send Mass Emails" and when a mass email's last
message should go out, given the hourly limit and the mass emails sent before it."""

import datetime
import math
from dataclasses import dataclass

from django.apps import apps
from django.db.models import Count, F, Q
from django.utils import timezone

from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings
from campaigns.sending.claims import hourly_allowance
from crm.jobs import SEND_MASS_EMAILS
from crm.models import JobRun

Status = EmailQueueItem.Status
HOUR = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class Estimate:
    next_run: datetime.datetime | None  # None: the beat entry is missing or disabled
    last_run: JobRun | None
    ahead: int  # items of mass emails sent before this one, still to send
    remaining: int  # this mass email's items still to send
    max_per_hour: int
    allowance_now: int  # what the hourly window still allows right now
    finish: datetime.datetime | None  # when the last message should go out

    @property
    def hours(self) -> float:
        return (self.ahead + self.remaining) / self.max_per_hour


def next_run(now: datetime.datetime) -> datetime.datetime | None:
    """The next time the beat entry "Send Mass Emails" runs; None if it is missing or off."""
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    task = periodic_task.objects.filter(name=SEND_MASS_EMAILS, enabled=True).first()
    if task is None:
        return None
    schedule = task.schedule
    last = task.last_run_at or now
    return now + max(schedule.remaining_estimate(last), datetime.timedelta(0))


def _sending_order() -> list[MassEmail]:
    """In Process and due Pending mass emails in the order the sending job takes them."""
    active = MassEmail.objects.filter(status__in=[MassEmail.Status.IN_PROCESS])
    return list(active.order_by(F("start_at").asc(nulls_first=True), "id"))


def estimate(mass_email: MassEmail, recipients: int | None = None) -> Estimate:
    """The estimate for `mass_email`; `recipients` stands for its queue before it is built."""
    now = timezone.now()
    config = MassEmailSettings.load()
    unsent = Q(queue_items__is_test=False, queue_items__status__in=[Status.PENDING, Status.SENDING])
    order = _sending_order()
    counts = dict(
        MassEmail.objects.filter(pk__in=[m.pk for m in order] + [mass_email.pk])
        .annotate(n=Count("queue_items", filter=unsent))
        .values_list("pk", "n")
    )
    ids = [m.pk for m in order]
    before = ids[: ids.index(mass_email.pk)] if mass_email.pk in ids else ids
    ahead = sum(counts.get(pk, 0) for pk in before)
    remaining = counts.get(mass_email.pk, 0) if recipients is None else recipients
    allowance = hourly_allowance(config.max_per_hour, now)
    start = next_run(now)
    finish = None
    if start is not None and remaining:
        if mass_email.start_at and mass_email.start_at > start:
            start = mass_email.start_at
        beyond_now = max(0, ahead + remaining - allowance)
        finish = start + HOUR * math.ceil(beyond_now / config.max_per_hour)
    last_run = JobRun.objects.filter(job=SEND_MASS_EMAILS).first()
    return Estimate(start, last_run, ahead, remaining, config.max_per_hour, allowance, finish)
