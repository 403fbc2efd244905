"""The results of a campaign or of one of its mass emails (tests excluded), read from counters.

Figures come from the counters campaigns.results.counters maintains, plus the log records and
hits after their watermarks (a primary key range), grouped the same way: a page never scans the
log or the hits. Every figure is given in recipients unless it says hits.
"""

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.apps import apps
from django.db.models import Count, Q, Sum
from django.utils.translation import gettext as _

from campaigns.models import (
    Campaign,
    CampaignLogRecord,
    EmailQueueItem,
    HitCounter,
    LogCounter,
    MassEmail,
    MassEmailSettings,
    TrackingUrl,
)
from campaigns.results import counters

Action = CampaignLogRecord.Action
ALL = counters.ALL_RECIPIENTS
TOP_DOMAINS = 10
HOURLY_FOR = timedelta(hours=72)
REASON_TEXTS = 5000
ADDRESS = re.compile(r"[^\s<>()\[\]\"']+@[^\s<>()\[\]\"']+")
IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
NUMBER = re.compile(r"\b[0-9A-Fa-f]*[0-9][0-9A-Fa-f]*\b")


@dataclass
class Figures:
    """Headline figures of a campaign, a mass email or a recipient domain."""

    sent: int = 0
    opened: int = 0
    clicked: int = 0
    opted_out: int = 0
    bounced: int = 0
    human_opened: int = 0
    human_clicked: int = 0
    bounces_by_kind: dict = field(default_factory=dict)  # bounce type → recipients
    other_actions: dict = field(default_factory=dict)  # e.g. Lead Created → records

    @property
    def delivered(self) -> int:
        return max(self.sent - self.bounced, 0)

    def rate(self, value: int, of: int | None = None) -> float | None:
        base = self.sent if of is None else of
        return round(100 * value / base, 2) if base else None

    @property
    def open_rate(self) -> float | None:
        return self.rate(self.opened, self.delivered)

    @property
    def click_rate(self) -> float | None:
        return self.rate(self.clicked, self.delivered)

    @property
    def click_to_open(self) -> float | None:
        return self.rate(self.clicked, self.opened)

    @property
    def bounce_rate(self) -> float | None:
        return self.rate(self.bounced)


@dataclass(frozen=True)
class LinkRow:
    link: TrackingUrl | None
    link_id: int
    clicks: int  # hits
    human_clicks: int
    clickers: int  # distinct recipients
    share: float | None  # of all clicks


@dataclass(frozen=True)
class ChartPoint:
    start: datetime
    opens: int
    clicks: int
    machine_opens: int
    machine_clicks: int


@dataclass
class Results:
    figures: Figures
    chart: list[ChartPoint]
    chart_unit: str  # "hour" or "day"
    links: list[LinkRow]
    domains: list[tuple[str, Figures]]
    mass_emails: list[tuple[MassEmail, Figures]]
    reasons: list[tuple[str, int]]
    opt_out_reasons: list[tuple[str, int]] = field(default_factory=list)


def _in_scope(groups: counters.Groups, campaign_ids, mass_email_ids=None) -> counters.Groups:
    """The groups (LOG_KEY or HIT_KEY: campaign first, mass email second) of those campaigns
    (and mass emails)."""
    return {
        key: n
        for key, n in groups.items()
        if key[0] in campaign_ids and (mass_email_ids is None or key[1] in mass_email_ids)
    }


def _log_counts(campaign: Campaign, mass_email: MassEmail | None) -> counters.Groups:
    """Log counts by LOG_KEY for the campaign (or mass email): counters plus the unfolded tail."""
    marks = counters.watermarks()
    stored = LogCounter.objects.filter(campaign=campaign)
    emails = None
    if mass_email is not None:
        stored = stored.filter(mass_email_id=mass_email.pk)
        emails = {mass_email.pk}
    tail = counters.tail_groups(counters.LOG, marks[counters.LOG])
    groups = defaultdict(int, _in_scope(tail, {campaign.pk}, emails))
    for *key, n in stored.values_list(*counters.LOG_KEY, "count"):
        groups[tuple(key)] += n
    return groups


def _hit_counts(
    campaign: Campaign, mass_email: MassEmail | None
) -> tuple[counters.Groups, counters.Groups]:
    """Hit counts by HIT_KEY of the campaign (or mass email), counters plus the unfolded tail:
    without the hour (hour None), and per hour only (mass email and link 0), for the chart."""
    marks = counters.watermarks()
    stored = HitCounter.objects.filter(campaign=campaign)
    emails = None
    if mass_email is not None:
        stored = stored.filter(mass_email_id=mass_email.pk)
        emails = {mass_email.pk}
    overall, hourly = defaultdict(int), defaultdict(int)
    live = _in_scope(
        counters.tail_groups(counters.HITS, marks[counters.HITS]), {campaign.pk}, emails
    )
    for (c, m, hour, kind, url, machine), n in live.items():
        overall[c, m, None, kind, url, machine] += n
        hourly[c, 0, hour, kind, 0, machine] += n
    keys = ("campaign_id", "mass_email_id", "kind", "tracking_url_id", "is_machine")
    for c, m, kind, url, machine, n in stored.values_list(*keys).annotate(n=Sum("count")):
        overall[c, m, None, kind, url, machine] += n
    per_hour = stored.values_list("hour", "kind", "is_machine").annotate(n=Sum("count"))
    for hour, kind, machine, n in per_hour:
        hourly[campaign.pk, 0, hour, kind, 0, machine] += n
    return overall, hourly


def mass_email_figures(mass_emails: list[MassEmail]) -> dict[int, Figures]:
    """The headline figures of several mass emails at once (their id → Figures), from the
    counters and the unfolded tail: a few queries whatever their number."""
    ids = {m.pk for m in mass_emails}
    campaigns = {m.campaign_id for m in mass_emails}
    marks = counters.watermarks()
    log: dict[int, counters.Groups] = defaultdict(lambda: defaultdict(int))
    hits: dict[int, counters.Groups] = defaultdict(lambda: defaultdict(int))
    for key, n in _in_scope(
        counters.tail_groups(counters.LOG, marks[counters.LOG]), campaigns, ids
    ).items():
        log[key[1]][key] += n
    stored = LogCounter.objects.filter(campaign_id__in=campaigns, mass_email_id__in=ids)
    for *key, n in stored.values_list(*counters.LOG_KEY, "count"):
        log[key[1]][tuple(key)] += n
    tail = _in_scope(counters.tail_groups(counters.HITS, marks[counters.HITS]), campaigns, ids)
    for (c, m, _hour, kind, url, machine), n in tail.items():
        hits[m][c, m, None, kind, url, machine] += n
    people = HitCounter.objects.filter(
        campaign_id__in=campaigns, mass_email_id__in=ids, kind__in=["opener", "clicker"]
    )
    keys = ("campaign_id", "mass_email_id", "kind", "tracking_url_id", "is_machine")
    for c, m, kind, url, machine, n in people.values_list(*keys).annotate(n=Sum("count")):
        hits[m][c, m, None, kind, url, machine] += n
    return {pk: figures_from(log.get(pk, {}), hits.get(pk, {})) for pk in ids}


def figures_from(log: counters.Groups, hits: counters.Groups) -> Figures:
    """Headline figures from log counts (LOG_KEY) and hit counts (HIT_KEY) of one scope."""
    figures = Figures()
    known = {Action.SENT, Action.OPENED, Action.CLICKED, Action.OPTED_OUT, Action.BOUNCED}
    kinds = defaultdict(int)
    other = defaultdict(int)
    for (_c, _m, action, bounce, _d, url), n in log.items():
        if action in (Action.SENT, Action.OPENED, Action.OPTED_OUT):
            setattr(figures, action, getattr(figures, action) + n)
        elif action == Action.CLICKED and url == 0:
            figures.clicked += n
        elif action == Action.BOUNCED and bounce == ALL:
            figures.bounced += n
        elif action == Action.BOUNCED:
            kinds[bounce] += n
        elif action not in known:
            other[action] += n
    for (_c, _m, _h, kind, _u, _machine), n in hits.items():
        if kind == "opener":
            figures.human_opened += n
        elif kind == "clicker":
            figures.human_clicked += n
    figures.bounces_by_kind = dict(kinds)
    figures.other_actions = dict(other)
    return figures


def _split(groups: counters.Groups, index: int) -> dict:
    parts = defaultdict(dict)
    for key, n in groups.items():
        parts[key[index]][key] = n
    return parts


def chart(hits: counters.Groups, now: datetime | None = None) -> tuple[list[ChartPoint], str]:
    """Opens and clicks (hits, person's and machine's apart) per hour for the first 72 hours
    from the first hit, per day after that; empty hours and days included."""
    per_hour = defaultdict(lambda: [0, 0, 0, 0])
    for (_c, _m, hour, kind, _u, machine), n in hits.items():
        if kind in ("open", "click"):
            per_hour[hour][(kind == "click") + 2 * machine] += n
    if not per_hour:
        return [], "hour"
    first, last = min(per_hour), max(per_hour)
    unit = "hour" if last - first < HOURLY_FOR else "day"
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    start = first if unit == "hour" else first.replace(hour=0)
    buckets = defaultdict(lambda: [0, 0, 0, 0])
    for hour, values in per_hour.items():
        bucket = start + step * ((hour - start) // step)
        buckets[bucket] = [a + b for a, b in zip(buckets[bucket], values, strict=True)]
    points, at = [], start
    while at <= last:
        opens, clicks, machine_opens, machine_clicks = buckets.get(at, [0, 0, 0, 0])
        points.append(ChartPoint(at, opens, clicks, machine_opens, machine_clicks))
        at += step
    return points, unit


def links(campaign: Campaign, log: counters.Groups, hits: counters.Groups) -> list[LinkRow]:
    """Each tracking URL with its clicks, human clicks, distinct clickers and share of clicks."""
    clicks, human, clickers = defaultdict(int), defaultdict(int), defaultdict(int)
    for (_c, _m, _h, kind, url, machine), n in hits.items():
        if kind == "click":
            clicks[url] += n
            human[url] += 0 if machine else n
    for (_c, _m, action, _b, _d, url), n in log.items():
        if action == Action.CLICKED and url != 0:
            clickers[url] += n
    by_id = {link.pk: link for link in campaign.tracking_urls.all()}
    total = sum(clicks.values())
    ids = sorted(set(by_id) | set(clicks) | set(clickers), key=lambda i: (-clicks[i], i))
    return [
        LinkRow(
            link=by_id.get(i),
            link_id=i,
            clicks=clicks[i],
            human_clicks=human[i],
            clickers=clickers[i],
            share=round(100 * clicks[i] / total, 1) if total else None,
        )
        for i in ids
        if i in by_id or clicks[i] or clickers[i]
    ]


def domains(log: counters.Groups, limit: int = TOP_DOMAINS) -> list[tuple[str, Figures]]:
    """The `limit` recipient domains with the most messages sent, with their figures."""
    rows = [(domain, figures_from(part, {})) for domain, part in _split(log, 4).items()]
    rows.sort(key=lambda row: (-row[1].sent, row[0]))
    return [row for row in rows if row[1].sent or row[1].bounced][:limit]


def reason_words(error: str) -> str:
    """An error's words with what varies per recipient (addresses, ids, numbers) taken out."""
    words = IP.sub("…", ADDRESS.sub("…", error))
    words = NUMBER.sub(lambda match: match[0] if len(match[0]) <= 3 else "…", words)
    return " ".join(words.split())[:200]


def reasons(campaign: Campaign, mass_email: MassEmail | None, limit: int = 10) -> list:
    """The most frequent bounce and failure reasons, grouped by their words, with how many:
    the failed queue items' last errors and the server's words of the bounces returned later
    (log records' bounce detail); at most REASON_TEXTS distinct texts of each are read."""
    failed = EmailQueueItem.objects.filter(
        mass_email__campaign=campaign, is_test=False, status=EmailQueueItem.Status.FAILED
    ).exclude(last_error="")
    bounced = CampaignLogRecord.objects.filter(
        campaign=campaign, action=Action.BOUNCED, is_test=False
    ).exclude(bounce_detail="")
    if mass_email is not None:
        failed = failed.filter(mass_email=mass_email)
        bounced = bounced.filter(queue_item__mass_email=mass_email)
    # A bounce refused at send time is a failed item too: its words are counted there once.
    bounced = bounced.exclude(queue_item__status=EmailQueueItem.Status.FAILED)
    grouped = defaultdict(int)
    for rows in (
        failed.order_by().values_list("last_error").annotate(n=Count("id")),
        bounced.order_by().values_list("bounce_detail").annotate(n=Count("id")),
    ):
        for words, n in rows.order_by("-n")[:REASON_TEXTS]:
            grouped[reason_words(words)] += n
    return sorted(grouped.items(), key=lambda row: (-row[1], row[0]))[:limit]


def opt_out_reasons(campaign: Campaign, mass_email: MassEmail | None) -> list[tuple[str, int]]:
    """Why people unsubscribed, as the opt-out page's preference center asked them: each
    reason's label with how many gave it (tests excluded), most given first."""
    # tracking sits above campaigns: its model is reached through the app registry.
    reasons = apps.get_model("tracking", "OptOutReason")
    rows = reasons.objects.filter(campaign=campaign, queue_item__is_test=False)
    if mass_email is not None:
        rows = rows.filter(queue_item__mass_email=mass_email)
    labels = dict(reasons.Choice.choices)
    counted = rows.order_by().values_list("reason").annotate(n=Count("id"))
    named = [(str(labels.get(reason, _("In their own words only"))), n) for reason, n in counted]
    return sorted(named, key=lambda row: (-row[1], row[0]))


def results(campaign: Campaign, mass_email: MassEmail | None = None) -> Results:
    """Everything the results page shows for `campaign`, or for one of its mass emails."""
    log, (hits, hourly) = _log_counts(campaign, mass_email), _hit_counts(campaign, mass_email)
    points, unit = chart(hourly)
    compared = []
    if mass_email is None:
        log_parts, hit_parts = _split(log, 1), _split(hits, 1)
        for email in campaign.mass_emails.filter(~Q(status=MassEmail.Status.DRAFT)):
            scope = figures_from(log_parts.get(email.pk, {}), hit_parts.get(email.pk, {}))
            compared.append((email, scope))
    return Results(
        figures=figures_from(log, hits),
        chart=points,
        chart_unit=unit,
        links=links(campaign, log, hits),
        domains=domains(log),
        mass_emails=compared,
        reasons=reasons(campaign, mass_email),
        opt_out_reasons=opt_out_reasons(campaign, mass_email),
    )


def summary(campaign: Campaign) -> list:
    """The campaign page's figures (statistics.Figure, the ones its type shows) from counters."""
    from campaigns.results import statistics

    figures = results_figures(campaign)
    values = {
        "sent": figures.sent,
        "opened": figures.opened,
        "clicked": figures.clicked,
        "opted_out": figures.opted_out,
        "bounced": figures.bounced,
        **{kind: figures.bounces_by_kind.get(kind, 0) for kind in CampaignLogRecord.BounceType},
        "leads": figures.other_actions.get(Action.LEAD_CREATED, 0),
    }
    human = {"opened": figures.human_opened, "clicked": figures.human_clicked}
    keys = list(statistics.FIGURES_BY_TYPE.get(campaign.type, statistics.EMAIL_FIGURES))
    if "opened" in keys and not figures.opened and not MassEmailSettings.load().open_tracking:
        keys.remove("opened")
    return [
        statistics.Figure(
            key=key,
            label=statistics.LABELS[key],
            value=values[key],
            percent=None
            if key in ("sent", "leads")
            else statistics.percent_of(values[key], figures.sent),
            human=human.get(key),
        )
        for key in keys
    ]


def results_figures(campaign: Campaign, mass_email: MassEmail | None = None) -> Figures:
    """Only the headline figures of `campaign` (or one of its mass emails)."""
    return figures_from(_log_counts(campaign, mass_email), _hit_counts(campaign, mass_email)[0])
