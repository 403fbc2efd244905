"""Campaign statistics (tests excluded), computed from indexed aggregates of the campaign log.

A GROUP BY over the log's (campaign, action, is_test) index gives most figures; human figures
(opens and clicks that were not a proxy's or a scanner's) come from a counter that the tracking
app registers, since campaigns may not import tracking.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, CampaignLogRecord, CampaignType, MassEmailSettings

Action = CampaignLogRecord.Action
Bounce = CampaignLogRecord.BounceType

# Which figures each campaign type shows, as EspoCRM shows them.
EMAIL_FIGURES = ("sent", "opened", "clicked", "opted_out", "bounced", "hard", "soft", "leads")
FIGURES_BY_TYPE = {
    CampaignType.EMAIL: EMAIL_FIGURES,
    CampaignType.NEWSLETTER: EMAIL_FIGURES,
    CampaignType.INFORMATIONAL: ("sent", "bounced", "hard", "soft"),
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
    "leads": _("Leads created"),
}

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
