"""The A/B test's winner rule, and each variant's figures side by side.

The metric is chosen upfront: people's unique clicks per delivered message (the default) or
people's unique opens per delivered message (a person's click counts as an open; opens by a
privacy proxy or a scanner, and clicks a scanner makes, are left out: campaigns' figures tell
them apart from people's with tracking's verdicts, read through the app registry).
Delivered: sent and not bounced.

A winner is declared only when every variant reached the minimum number of delivered messages
and the best variant's rate beats each other's in a two-proportion z-test (pooled, two-sided)
at the confidence chosen; with more than two variants the threshold is divided between the
comparisons (Bonferroni), so testing five variants does not make a chance winner likelier.
Otherwise `decide` applies the marketer's fallback. The reasoning (rates, intervals, samples,
p-values) is kept as words for the page and the job log.
"""

import math
from dataclasses import dataclass

from django.apps import apps
from django.db.models import Count, Q
from django.utils.translation import gettext as _

from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmail, MassEmailVariant

Action = CampaignLogRecord.Action
Metric = MassEmail.TestMetric
Fallback = MassEmail.TestFallback


@dataclass
class VariantFigures:
    """One variant's figures (non-test items; the test share alone, or all of its items)."""

    variant: MassEmailVariant
    sent: int = 0
    bounced: int = 0
    opened: int = 0  # people's opens (a person's click counts)
    clicked: int = 0  # people's clicks
    opted_out: int = 0

    @property
    def delivered(self) -> int:
        return max(0, self.sent - self.bounced)

    def successes(self, metric: str) -> int:
        return self.opened if metric == Metric.OPENS else self.clicked

    def rate(self, metric: str) -> float:
        return self.successes(metric) / self.delivered if self.delivered else 0.0

    def interval(self, metric: str, confidence: int = 95) -> tuple[float, float]:
        return wilson(self.successes(metric), self.delivered, confidence)

    def opened_interval(self) -> tuple[float, float]:
        return wilson(self.opened, self.delivered)

    def clicked_interval(self) -> tuple[float, float]:
        return wilson(self.clicked, self.delivered)


@dataclass(frozen=True)
class Decision:
    winner: MassEmailVariant | None  # None: a person must choose
    significant: bool
    reasoning: str


def z_for(confidence: float) -> float:
    """The two-sided normal quantile for `confidence` percent (e.g. 95 → 1.96)."""
    return _inverse_normal(1 - (1 - confidence / 100) / 2)


def _inverse_normal(p: float) -> float:
    """The standard normal quantile, by bisection on erf (exact enough for a threshold)."""
    low, high = -10.0, 10.0
    for _step in range(100):
        middle = (low + high) / 2
        if 0.5 * math.erfc(-middle / math.sqrt(2)) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def wilson(successes: int, trials: int, confidence: float = 95) -> tuple[float, float]:
    """The Wilson score interval of a proportion, as fractions; (0, 0) without trials."""
    if trials <= 0:
        return 0.0, 0.0
    z = z_for(confidence)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """The two-sided p-value of a pooled two-proportion z-test; 1.0 when it cannot tell."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    if pooled <= 0 or pooled >= 1:
        return 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def describe(figures: list[VariantFigures], metric: str, confidence: int) -> list[str]:
    """One line per variant: successes of delivered, rate and interval."""
    what = _("people's opens") if metric == Metric.OPENS else _("people's clicks")
    lines = []
    for row in figures:
        low, high = row.interval(metric, confidence)
        lines.append(
            _(
                "%(variant)s: %(successes)d %(what)s of %(delivered)d delivered = %(rate)s "
                "(%(confidence)d %% interval %(low)s–%(high)s)."
            )
            % {
                "variant": row.variant,
                "successes": row.successes(metric),
                "what": what,
                "delivered": row.delivered,
                "rate": _percent(row.rate(metric)),
                "confidence": confidence,
                "low": _percent(low),
                "high": _percent(high),
            }
        )
    return lines


def decide(
    figures: list[VariantFigures],
    metric: str,
    confidence: int,
    min_sample: int,
    fallback: str,
) -> Decision:
    """The winner of the test from its variants' figures (in letter order), with the reasons."""
    lines = describe(figures, metric, confidence)
    if metric == Metric.MANUAL:
        lines.append(_("The winner is chosen by a person."))
        return Decision(None, False, "\n".join(lines))
    best = max(figures, key=lambda row: row.rate(metric))  # the first of equals: max keeps it
    small = [row for row in figures if row.delivered < min_sample]
    significant = False
    if small:
        names = ", ".join(str(row.variant) for row in small)
        lines.append(
            _("Too few delivered to tell (%(names)s below the minimum of %(minimum)d).")
            % {"names": names, "minimum": min_sample}
        )
    else:
        others = [row for row in figures if row is not best]
        alpha = (1 - confidence / 100) / max(1, len(others))
        significant = True
        for other in others:
            p_value = two_proportion_p(
                best.successes(metric), best.delivered, other.successes(metric), other.delivered
            )
            beats = best.rate(metric) > other.rate(metric) and p_value < alpha
            significant = significant and beats
            lines.append(
                _("%(best)s against %(other)s: p %(p)s, needs below %(alpha)s: %(verdict)s.")
                % {
                    "best": best.variant,
                    "other": other.variant,
                    "p": f"= {p_value:.4f}" if p_value >= 0.0001 else "< 0.0001",
                    "alpha": f"{alpha:.4f}",
                    "verdict": _("significant") if beats else _("could be chance"),
                }
            )
    if significant:
        lines.append(
            _("Winner: %(variant)s, better than every other at %(confidence)d %% confidence.")
            % {"variant": best.variant, "confidence": confidence}
        )
        return Decision(best.variant, True, "\n".join(lines))
    if fallback == Fallback.FIRST:
        winner = figures[0].variant
        lines.append(
            _("No clear winner: %(variant)s is sent, as chosen upfront.") % {"variant": winner}
        )
        return Decision(winner, False, "\n".join(lines))
    if fallback == Fallback.BEST:
        lines.append(
            _("No clear winner: the best so far, %(variant)s, is sent, as chosen upfront.")
            % {"variant": best.variant}
        )
        return Decision(best.variant, False, "\n".join(lines))
    lines.append(_("No clear winner: the rest waits for a person to choose, as chosen upfront."))
    return Decision(None, False, "\n".join(lines))


def variant_figures(mass_email: MassEmail, test_only: bool = True) -> list[VariantFigures]:
    """Each variant's figures, in letter order: its test share's (`test_only`, what the winner
    rule reads), or every item that got it, the winner's later sends included."""
    variants = list(mass_email.variants.order_by("letter"))
    items = EmailQueueItem.objects.filter(
        mass_email=mass_email, is_test=False, variant__isnull=False
    )
    if test_only:
        items = items.filter(in_test=True)
    rows = {variant.pk: VariantFigures(variant) for variant in variants}
    sent = items.filter(status=EmailQueueItem.Status.SENT).values_list("variant_id")
    for variant_id, n in sent.annotate(n=Count("id")).order_by():
        rows[variant_id].sent = n
    # The campaign first in each filter: both tables' indexes lead with it.
    log = CampaignLogRecord.objects.filter(
        campaign_id=mass_email.campaign_id,
        action__in=(Action.BOUNCED, Action.OPTED_OUT),
        is_test=False,
        queue_item__in=items.filter(status=EmailQueueItem.Status.SENT),
    )
    by_variant = log.values_list("queue_item__variant_id").annotate(
        bounced=Count("queue_item", distinct=True, filter=Q(action=Action.BOUNCED)),
        opted_out=Count("queue_item", distinct=True, filter=Q(action=Action.OPTED_OUT)),
    )
    for variant_id, bounced, opted_out in by_variant.order_by():
        rows[variant_id].bounced, rows[variant_id].opted_out = bounced, opted_out
    hits = apps.get_model("tracking", "TrackingHit").objects.filter(
        campaign_id=mass_email.campaign_id,
        is_test=False,
        is_machine=False,
        kind__in=("open", "click"),
        queue_item__in=items.filter(status=EmailQueueItem.Status.SENT),
    )
    people = hits.values_list("queue_item__variant_id").annotate(
        opened=Count("queue_item", distinct=True, filter=Q(kind__in=("open", "click"))),
        clicked=Count("queue_item", distinct=True, filter=Q(kind="click")),
    )
    for variant_id, opened, clicked in people.order_by():
        rows[variant_id].opened, rows[variant_id].clicked = opened, clicked
    return [rows[variant.pk] for variant in variants]
