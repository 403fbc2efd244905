"""The figures stay exact while hits and log records wait to be folded (a burst): the unfolded
tail is counted in kept blocks (campaigns.results.counters.tail_groups), which must give what
counting every row would, whatever changed since a block was kept."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import CampaignLogRecord, TailBlock
from campaigns.results import counters
from campaigns.results.figures import mass_email_figures, results
from tests.campaigns.test_results import check, hit, log, scenario, sent_to
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Blocks of 3 ids, so a few rows span several blocks."""
    monkeypatch.setattr(counters, "TAIL_BLOCK", 3)


def counted_directly(source: str) -> dict:
    rows = CampaignLogRecord.objects.all() if source == counters.LOG else TrackingHit.objects.all()
    mark = counters.watermarks()[source]
    rows = rows.filter(id__gt=mark)
    grouped = counters.log_groups(rows) if source == counters.LOG else counters.hit_groups(rows)
    return {key: n for key, n in grouped.items() if n}


def from_blocks(source: str) -> dict:
    grouped = counters.tail_groups(source, counters.watermarks()[source])
    return {key: n for key, n in grouped.items() if n}


def burst(item, count: int, start=None) -> None:
    """`count` human opens of `item`, a second apart, the last ones within the settle time."""
    start = start or timezone.now() - timedelta(seconds=count)
    for n in range(count):
        hit(item, "open" if n % 3 else "click", at=start + timedelta(seconds=n))


def test_blocks_give_what_counting_every_row_gives_and_are_kept():
    _campaign, first, second, _home, _shop = scenario()
    burst(sent_to(first, "dee@globex.test"), 10)
    for source in (counters.LOG, counters.HITS):
        assert from_blocks(source) == counted_directly(source)
    kept = TailBlock.objects.filter(source=counters.HITS).count()
    assert kept >= 3
    # Counted again, the kept blocks are read, not counted: same answer, same blocks.
    assert from_blocks(counters.HITS) == counted_directly(counters.HITS)
    assert TailBlock.objects.filter(source=counters.HITS).count() == kept


def test_a_verdict_changed_after_its_block_was_kept_is_seen():
    _campaign, first, _second, _home, _shop = scenario()
    item = sent_to(first, "dee@globex.test")
    burst(item, 9)
    counters.count_tail()
    # The machine rules mark the item's first hit later (a hidden-link hit in its window):
    # the first human open moves to a later hit, in another block.
    earliest = TrackingHit.objects.filter(queue_item=item).order_by("id").first()
    TrackingHit.objects.filter(pk=earliest.pk).update(is_machine=True, reason="trap")
    assert from_blocks(counters.HITS) == counted_directly(counters.HITS)


def test_a_deleted_hit_and_a_late_commit_are_seen():
    _campaign, first, _second, _home, _shop = scenario()
    item = sent_to(first, "dee@globex.test")
    burst(item, 9)
    counters.count_tail()
    hits = list(TrackingHit.objects.filter(queue_item=item).order_by("id"))
    hits[4].delete()
    # A hit whose transaction committed after the block was counted: an id inside it.
    TrackingHit.objects.create(
        id=hits[4].pk,
        queue_item=item,
        campaign=item.mass_email.campaign,
        is_test=False,
        kind="click",
        at=hits[4].at,
    )
    hits[6].delete()
    assert from_blocks(counters.HITS) == counted_directly(counters.HITS)


def test_the_results_page_is_exact_with_a_burst_pending(settings):
    campaign, first, second, home, shop = scenario()
    check(results(campaign), first, home, shop)
    counters.update_counters()
    check(results(campaign), first, home, shop)
    # A burst after the fold: new recipients open and click, some hits still settling.
    new = [sent_to(first, f"p{n}@globex.test") for n in range(4)]
    for item in new:
        log(item, "opened")
        burst(item, 5)
    live = results(campaign)
    live_emails = mass_email_figures([first, second])
    # What the same figures are once everything is folded (nothing left to settle).
    counters.SETTLE_SECONDS, settle = 0, counters.SETTLE_SECONDS
    try:
        counters.rebuild_counters()
    finally:
        counters.SETTLE_SECONDS = settle
    assert counters.tail_groups(counters.HITS, counters.watermarks()[counters.HITS]) == {}
    folded = results(campaign)
    assert live.figures == folded.figures
    assert (live.figures.sent, live.figures.human_opened) == (7, 5)
    assert live.chart == folded.chart and live.links == folded.links
    assert live.mass_emails == folded.mass_emails
    assert live_emails == mass_email_figures([first, second])
    assert live_emails[first.pk] == dict(folded.mass_emails)[first]


def test_folding_drops_the_kept_blocks_it_folded():
    _campaign, first, _second, _home, _shop = scenario()
    burst(sent_to(first, "dee@globex.test"), 9, start=timezone.now() - timedelta(days=1))
    counters.count_tail()
    assert TailBlock.objects.filter(source=counters.HITS).exists()
    counters.update_counters()
    mark = counters.watermarks()[counters.HITS]
    assert not TailBlock.objects.filter(
        source=counters.HITS, block__lt=mark // counters.TAIL_BLOCK
    ).exists()
    assert from_blocks(counters.HITS) == counted_directly(counters.HITS) == {}


def test_the_fold_steps_over_a_gap_of_ids(monkeypatch):
    monkeypatch.setattr(counters, "BATCH", 5)
    _campaign, first, _second, _home, _shop = scenario()
    item = sent_to(first, "dee@globex.test")
    newest = TrackingHit.objects.order_by("-id").first()
    counters.update_counters()
    TrackingHit.objects.create(
        id=newest.pk + 20,  # 20 ids rolled back or deleted before it
        queue_item=item,
        campaign=item.mass_email.campaign,
        is_test=False,
        kind="open",
        at=timezone.now() - timedelta(days=1),
    )
    counters.update_counters()
    assert counters.watermarks()[counters.HITS] == newest.pk + 20
