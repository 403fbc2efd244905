"""Campaign statistics (tests excluded), computed from indexed aggregates of the campaign log.

Bounces show as a total and by kind: hard, soft and blocked (the message or our server was
refused; campaigns.sending.bounce_kinds). blocked_bursts() lists, for the mass email page, the
domains that blocked a mass email's messages lately: what a marketer must see first.

A GROUP BY over the log's (campaign, action, is_test) index gives most figures; human figures
(opens and clicks that were not a proxy's or a scanner's) come from a counter that the tracking
app registers, since campaigns may not import tracking.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, CampaignLogRecord, CampaignType, MassEmailSettings

Action = CampaignLogRecord.Action
Bounce = CampaignLogRecord.BounceType

# Which figures each campaign type shows, as EspoCRM shows them.
EMAIL_FIGURES = (
    "sent",
    "opened",
    "clicked",
    "opted_out",
    "bounced",
    "hard",
    "soft",
    "blocked",
    "leads",
)
FIGURES_BY_TYPE = {
    CampaignType.EMAIL: EMAIL_FIGURES,
    CampaignType.NEWSLETTER: EMAIL_FIGURES,
    CampaignType.INFORMATIONAL: ("sent", "bounced", "hard", "soft", "blocked"),
    CampaignType.MAIL: ("sent", "leads"),
    CampaignType.WEB: ("leads",),
    CampaignType.TELEVISION: ("leads",),
    CampaignType.RADIO: ("leads",),
}
LABELS = {
    "sent": _("Sent"),
    "opened": _("Opened"),
    "clicked": _("Clicked"),
    "opted_out": _("Opted out"),
    "bounced": _("Bounced"),
    "hard": _("Bounced (hard)"),
    "soft": _("Bounced (soft)"),
    # Refused for the message or the sender (spam, blocklist, DMARC); the address is fine.
    "blocked": _("Bounced (blocked)"),
    "leads": _("Leads created"),
}

# The mass email page's notice of blocked messages (blocked_bursts).
BLOCKED_WINDOW_HOURS = 24
BLOCKED_DOMAINS_SHOWN = 5
BLOCKED_ROWS_READ = 50_000

HumanCounter = Callable[[Campaign], dict[str, int]]
_human_counters: list[HumanCounter] = []


def register_human_counter(counter: HumanCounter) -> None:
    """Register `counter(campaign) -> {"opened": n, "clicked": n}` for the human figures."""
    if counter not in _human_counters:
        _human_counters.append(counter)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str | Promise
    value: int
    percent: Decimal | None = None
    human: int | None = None


def percent_of(value: int, sent: int) -> Decimal | None:
    """`value` as a percentage of `sent` with two decimals; None when nothing was sent."""
    if not sent:
        return None
    return (Decimal(100) * value / sent).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def log_counts(campaign: Campaign) -> dict[str, int]:
    """Distinct recipients per figure, from a few aggregates over the (campaign, action) index.

    Sent, Opened and Opted Out are unique per queue item, so counting rows counts recipients;
    only clicks and bounces, which repeat per item, need a distinct count.
    """
    log = CampaignLogRecord.objects.filter(campaign=campaign, is_test=False)
    rows = log.values_list("action").annotate(n=Count("*")).order_by()
    per_action = dict(rows)
    counts = dict.fromkeys(LABELS, 0)
    counts.update(
        sent=per_action.get(Action.SENT, 0),
        opened=per_action.get(Action.OPENED, 0),
        opted_out=per_action.get(Action.OPTED_OUT, 0),
        leads=per_action.get(Action.LEAD_CREATED, 0),
    )
    if per_action.get(Action.CLICKED):
        clicks = log.filter(action=Action.CLICKED)
        counts["clicked"] = clicks.aggregate(n=Count("queue_item", distinct=True))["n"]
    if per_action.get(Action.BOUNCED):
        recipients = Count("queue_item", distinct=True)
        bounces = log.filter(action=Action.BOUNCED).aggregate(
            bounced=recipients,
            hard=Count("queue_item", distinct=True, filter=Q(bounce_type=Bounce.HARD)),
            soft=Count("queue_item", distinct=True, filter=Q(bounce_type=Bounce.SOFT)),
            blocked=Count("queue_item", distinct=True, filter=Q(bounce_type=Bounce.BLOCKED)),
        )
        counts.update(bounces)
    return counts


def human_counts(campaign: Campaign) -> dict[str, int]:
    counts: dict[str, int] = {}
    for counter in _human_counters:
        counts.update(counter(campaign))
    return counts


def campaign_statistics(campaign: Campaign) -> list[Figure]:
    """The figures the campaign's type shows, with percentages of sent and human counts."""
    keys = list(FIGURES_BY_TYPE.get(campaign.type, EMAIL_FIGURES))
    counts = log_counts(campaign)
    if "opened" in keys and not counts["opened"] and not MassEmailSettings.load().open_tracking:
        keys.remove("opened")
    human = human_counts(campaign) if {"opened", "clicked"} & set(keys) else {}
    sent = counts["sent"]
    return [
        Figure(
            key=key,
            label=LABELS[key],
            value=counts[key],
            percent=None if key in ("sent", "leads") else percent_of(counts[key], sent),
            human=human.get(key),
        )
        for key in keys
    ]


@dataclass(frozen=True)
class BlockedBurst:
    """Messages of a mass email that one receiving domain blocked lately."""

    domain: str
    count: int
    since: datetime.datetime  # the first of them in the window
    detail: str  # the server's latest words, e.g. "5.7.1 … listed on …"


def blocked_bursts(mass_email, hours: int = BLOCKED_WINDOW_HOURS) -> list[BlockedBurst]:
    """The domains that blocked the mass email's messages in the last `hours` (bounces of kind
    Blocked, tests excluded), most messages first; at most BLOCKED_DOMAINS_SHOWN."""
    since = timezone.now() - datetime.timedelta(hours=hours)
    rows = (
        CampaignLogRecord.objects.filter(
            campaign_id=mass_email.campaign_id,
            action=Action.BOUNCED,
            is_test=False,
            queue_item__mass_email=mass_email,
            bounce_type=Bounce.BLOCKED,
            action_date__gte=since,
        )
        .order_by("-action_date")
        .values_list("email", "action_date", "bounce_detail")[:BLOCKED_ROWS_READ]
    )
    by_domain: dict[str, list] = {}
    for email, at, detail in rows:
        domain = email.rpartition("@")[2].lower() or "?"
        found = by_domain.setdefault(domain, [0, at, detail])
        found[0] += 1
        found[1] = at  # rows come newest first: the last one seen is the first in the window
    bursts = [BlockedBurst(d, n, first, detail) for d, (n, first, detail) in by_domain.items()]
    bursts.sort(key=lambda burst: (-burst.count, burst.domain))
    return bursts[:BLOCKED_DOMAINS_SHOWN]
