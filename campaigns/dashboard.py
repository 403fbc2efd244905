"""The admin's first page for marketers: what is sending now, what comes next, how the last mass
emails did, how the lists grow and whether deliverability is healthy.

Everything is read from counters or bounded index ranges, never by scanning the log or the hits:
- sending now: each In Process mass email's messages sent (the results counters) and left (its
  unsent queue items, on the (mass_email, status) index), its rate over the last minute and
  when its rest goes out at that rate (campaigns.sending.throughput), or by the hourly limit
  when it sent nothing this minute, at the hourly limit after the mass emails before it;
- the last mass emails and deliverability: the results counters with the unfolded tail
  (campaigns.results.figures.mass_email_figures: a few queries for all of them);
- list growth: target list entries added and opt-outs recorded per week over the last WEEKS
  weeks, from weekly counters (campaigns.results.growth);
- deliverability: bounces and complaints of the mass emails of the last WINDOW_DAYS days against
  the thresholds large mailbox providers publish (Google's and Yahoo's sender guidelines ask for
  spam complaints under 0.3 %; bounces are commonly kept under 2 %).
"""

import datetime
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Count, F
from django.utils import timezone

from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings
from campaigns.results import figures, growth
from campaigns.sending import claims, throughput
from crm.models import ConsentRecord

Status = MassEmail.Status
Queue = EmailQueueItem.Status
SENDING_SHOWN = 5
SCHEDULED_SHOWN = 5
LAST_SHOWN = 8
WEEKS = 12
WINDOW_DAYS = 30
COMPLAINT_LIMIT = 0.3  # percent of messages sent (Google's and Yahoo's bulk sender guidelines)
BOUNCE_LIMIT = 2.0  # percent of messages sent


@dataclass(frozen=True)
class SendingNow:
    mass_email: MassEmail
    sent: int  # the Sent log records (the results counters), tests excluded
    pending: int  # queue items Pending or Sending
    failed: int
    per_second: float
    finish: datetime.datetime | None

    @property
    def total(self) -> int:
        return self.sent + self.pending + self.failed

    @property
    def percent_sent(self) -> float:
        return round(100 * self.sent / self.total, 1) if self.total else 0.0

    @property
    def per_minute(self) -> float:
        return self.per_second * 60


@dataclass(frozen=True)
class LastMassEmail:
    mass_email: MassEmail
    figures: figures.Figures

    @property
    def human_open_rate(self) -> float | None:
        return self.figures.rate(self.figures.human_opened, self.figures.delivered)

    @property
    def human_click_rate(self) -> float | None:
        return self.figures.rate(self.figures.human_clicked, self.figures.delivered)


@dataclass(frozen=True)
class Week:
    start: datetime.date
    people_in: int
    people_out: int


@dataclass(frozen=True)
class Rate:
    """A deliverability rate against its limit (both in percent)."""

    count: int
    sent: int
    limit: float

    @property
    def percent(self) -> float | None:
        return round(100 * self.count / self.sent, 2) if self.sent else None

    @property
    def healthy(self) -> bool | None:
        return None if self.percent is None else self.percent < self.limit


@dataclass(frozen=True)
class Deliverability:
    mass_emails: int
    sent: int
    bounces: Rate
    complaints: Rate


@dataclass(frozen=True)
class Dashboard:
    sending: list[SendingNow]
    scheduled: list[MassEmail]
    last: list[LastMassEmail]
    growth: list[Week]
    deliverability: Deliverability


FiguresOf = Callable[[list[MassEmail]], dict[int, figures.Figures]]


def _sending() -> list[MassEmail]:
    active = MassEmail.objects.filter(status=Status.IN_PROCESS).select_related("campaign")
    return list(active.order_by(F("start_at").asc(nulls_first=True), "id")[:SENDING_SHOWN])


def _last() -> list[MassEmail]:
    recent = _sent_mass_emails().select_related("campaign")
    return list(recent.order_by(F("start_at").desc(nulls_last=True), "-id")[:LAST_SHOWN])


def _in_window(now: datetime.datetime) -> list[MassEmail]:
    since = now - datetime.timedelta(days=WINDOW_DAYS)
    return list(_sent_mass_emails().filter(start_at__gte=since))


def sending_now(
    now: datetime.datetime, figures_of: FiguresOf = figures.mass_email_figures
) -> list[SendingNow]:
    """The In Process mass emails (the first SENDING_SHOWN in sending order). The end is
    estimated at the rate of the last minute, or at the hourly limit (after the ones before it)
    when it sent nothing in that minute or when the limit will hold it back: what is left,
    with the ones before it, is more than the hourly window still allows."""
    active = _sending()
    sent = figures_of(active)
    # What is left is counted on the (mass_email, status) index; what went out, from counters.
    left = EmailQueueItem.objects.filter(
        mass_email_id__in=[m.pk for m in active],
        status__in=[Queue.PENDING, Queue.SENDING, Queue.FAILED],
        is_test=False,
    )
    counts = left.order_by().values_list("mass_email_id", "status").annotate(n=Count("id"))
    pending, failed = defaultdict(int), defaultdict(int)
    for mass_email_id, status, n in counts:
        (failed if status == Queue.FAILED else pending)[mass_email_id] += n
    shown, ahead = [], 0
    per_hour = MassEmailSettings.load().max_per_hour
    allowance = claims.hourly_allowance(per_hour, now)
    for mass_email in active:
        per_second = throughput.mass_email_rate(mass_email, now)
        left_now = pending[mass_email.pk]
        finish = throughput.finish_at_rate(left_now, per_second, now)
        if left_now and per_hour and (finish is None or ahead + left_now > allowance):
            at_limit = throughput.finish_at_rate(ahead + left_now, per_hour / 3600, now)
            finish = max(finish or at_limit, at_limit)
        ahead += left_now
        row = SendingNow(
            mass_email,
            sent[mass_email.pk].sent,
            left_now,
            failed[mass_email.pk],
            per_second,
            finish,
        )
        shown.append(row)
    return shown


def scheduled_next() -> list[MassEmail]:
    """The Pending mass emails, soonest first (no start time: at the next run)."""
    pending = MassEmail.objects.filter(status=Status.PENDING).select_related("campaign")
    return list(pending.order_by(F("start_at").asc(nulls_first=True), "id")[:SCHEDULED_SHOWN])


def _sent_mass_emails():
    return MassEmail.objects.filter(
        status__in=[Status.IN_PROCESS, Status.PAUSED, Status.COMPLETE, Status.CANCELED]
    )


def last_mass_emails(figures_of: FiguresOf = figures.mass_email_figures) -> list[LastMassEmail]:
    """The LAST_SHOWN mass emails that went out most recently, with their figures."""
    recent = _last()
    found = figures_of(recent)
    return [LastMassEmail(m, found[m.pk]) for m in recent]


def list_growth(now: datetime.datetime) -> list[Week]:
    """People added to target lists and people who opted out, per week, for WEEKS weeks (the
    current one last)."""
    today = timezone.localdate(now)
    this_week = today - datetime.timedelta(days=today.weekday())
    first = this_week - datetime.timedelta(weeks=WEEKS - 1)
    people_in = growth.weekly(growth.ENTRIES, first)
    people_out = growth.weekly(growth.OPT_OUTS, first)
    weeks = [first + datetime.timedelta(weeks=n) for n in range(WEEKS)]
    return [Week(week, people_in.get(week, 0), people_out.get(week, 0)) for week in weeks]


def deliverability(
    now: datetime.datetime, figures_of: FiguresOf = figures.mass_email_figures
) -> Deliverability:
    """Bounces of the mass emails started in the last WINDOW_DAYS days, per message sent, and
    spam complaints recorded in those days, per message those mass emails sent."""
    since = now - datetime.timedelta(days=WINDOW_DAYS)
    recent = _in_window(now)
    found = figures_of(recent).values()
    sent, bounced = sum(f.sent for f in found), sum(f.bounced for f in found)
    complaints = ConsentRecord.objects.filter(
        action=ConsentRecord.Action.OPT_OUT,
        method=ConsentRecord.Method.COMPLAINT,
        at__gte=since,
    ).count()
    return Deliverability(
        mass_emails=len(recent),
        sent=sent,
        bounces=Rate(bounced, sent, BOUNCE_LIMIT),
        complaints=Rate(complaints, sent, COMPLAINT_LIMIT),
    )


def dashboard(now: datetime.datetime | None = None) -> Dashboard:
    """Every section; the figures of all the mass emails shown read in one pass (the counters
    and the unfolded tail once)."""
    now = now or timezone.now()
    shown = {m.pk: m for m in [*_sending(), *_last(), *_in_window(now)]}
    found = figures.mass_email_figures(list(shown.values()))

    def figures_of(mass_emails: list[MassEmail]) -> dict[int, figures.Figures]:
        return {m.pk: found[m.pk] for m in mass_emails}

    return Dashboard(
        sending=sending_now(now, figures_of),
        scheduled=scheduled_next(),
        last=last_mass_emails(figures_of),
        growth=list_growth(now),
        deliverability=deliverability(now, figures_of),
    )
