"""The A/B winner rule on known figures: significant, chance, too few, the fallbacks."""

import math

import pytest

from campaigns.models import MassEmail, MassEmailVariant
from campaigns.results.winner import (
    VariantFigures,
    decide,
    two_proportion_p,
    wilson,
    z_for,
)

Metric = MassEmail.TestMetric
Fallback = MassEmail.TestFallback


def figures(*rows, metric="clicks"):
    """VariantFigures A, B, … from (successes, delivered) pairs."""
    result = []
    for letter, (successes, delivered) in zip("ABCDE", rows, strict=False):
        row = VariantFigures(MassEmailVariant(letter=letter), sent=delivered)
        if metric == "opens":
            row.opened = successes
        else:
            row.clicked = successes
        result.append(row)
    return result


def test_known_values_of_the_statistics():
    assert z_for(95) == pytest.approx(1.959964, abs=1e-5)
    assert z_for(99) == pytest.approx(2.575829, abs=1e-5)
    low, high = wilson(5, 100)
    assert (low, high) == (pytest.approx(0.02154, abs=1e-4), pytest.approx(0.11175, abs=1e-4))
    # 50/1000 against 80/1000: z = 2.721, p = 0.0065.
    assert two_proportion_p(80, 1000, 50, 1000) == pytest.approx(0.0065, abs=2e-4)
    assert two_proportion_p(60, 1000, 50, 1000) == pytest.approx(0.327, abs=2e-3)
    assert two_proportion_p(0, 100, 0, 100) == 1.0
    assert wilson(0, 0) == (0.0, 0.0)


def test_a_significant_difference_makes_a_winner():
    decision = decide(figures((50, 1000), (80, 1000)), Metric.CLICKS, 95, 100, Fallback.WAIT)
    assert decision.significant
    assert decision.winner.letter == "B"
    assert "p = 0.0065" in decision.reasoning and "significant" in decision.reasoning
    assert "50 people's clicks of 1000 delivered = 5.0 %" in decision.reasoning


def test_a_difference_that_could_be_chance_falls_back_to_the_marketers_choice():
    rows = figures((50, 1000), (60, 1000))
    waiting = decide(rows, Metric.CLICKS, 95, 100, Fallback.WAIT)
    assert (waiting.winner, waiting.significant) == (None, False)
    assert "could be chance" in waiting.reasoning and "waits for a person" in waiting.reasoning
    assert decide(rows, Metric.CLICKS, 95, 100, Fallback.FIRST).winner.letter == "A"
    best = decide(rows, Metric.CLICKS, 95, 100, Fallback.BEST)
    assert (best.winner.letter, best.significant) == ("B", False)


def test_a_higher_confidence_needs_a_clearer_difference():
    rows = figures((50, 1000), (75, 1000))  # p = 0.021
    assert decide(rows, Metric.CLICKS, 95, 100, Fallback.WAIT).winner.letter == "B"
    assert decide(rows, Metric.CLICKS, 99, 100, Fallback.WAIT).winner is None


def test_no_winner_below_the_minimum_sample_however_large_the_difference():
    rows = figures((0, 50), (25, 50))
    assert two_proportion_p(25, 50, 0, 50) < 1e-6
    decision = decide(rows, Metric.CLICKS, 95, 100, Fallback.WAIT)
    assert decision.winner is None and "Too few delivered" in decision.reasoning
    assert decide(rows, Metric.CLICKS, 95, 50, Fallback.WAIT).winner.letter == "B"


def test_more_variants_share_the_threshold():
    # B beats A and C at p ≈ 0.03 each: enough for two variants, not for three (0.05 / 2).
    two = decide(figures((100, 2000), (131, 2000)), Metric.CLICKS, 95, 100, Fallback.WAIT)
    assert two.winner.letter == "B"
    p = two_proportion_p(131, 2000, 100, 2000)
    assert 0.025 < p < 0.05
    three = figures((100, 2000), (131, 2000), (100, 2000))
    assert decide(three, Metric.CLICKS, 95, 100, Fallback.WAIT).winner is None


def test_opens_metric_reads_peoples_opens_and_manual_never_decides():
    rows = figures((50, 1000), (80, 1000), metric="opens")
    assert decide(rows, Metric.OPENS, 95, 100, Fallback.WAIT).winner.letter == "B"
    assert decide(rows, Metric.CLICKS, 95, 100, Fallback.WAIT).winner is None  # no clicks
    manual = decide(rows, Metric.MANUAL, 95, 100, Fallback.BEST)
    assert manual.winner is None and "chosen by a person" in manual.reasoning


def test_delivered_leaves_bounces_out():
    row = VariantFigures(MassEmailVariant(letter="A"), sent=100, bounced=20, clicked=8)
    assert row.delivered == 80
    assert math.isclose(row.rate("clicks"), 0.1)
