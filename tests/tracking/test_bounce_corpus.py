"""Every message of the bounce corpus reads as labelled (tests/tracking/corpus/README.md).

Each case is pinned: its outcome, or for a known miss what it reads as today (the manifest's
reads_as), so a regression and an improvement both show. Whatever the misses, none may be a
false positive or invalidate a good address. Public messages absent from this machine are
skipped (see the README); the committed ones (own/) always run.
"""

import pytest

from campaigns.models import CampaignLogRecord
from tests.factories import EmailAddressFactory, SentQueueItemFactory
from tests.tracking import bounce_corpus as corpus
from tracking import bounces

CASES = corpus.cases()
ITEM = corpus.ITEM_ID
# Public messages are pinned where a copy is on this machine; the others are one skip, not
# a thousand lines of them.
PRESENT = [case for case in CASES if corpus.raw(case) is not None]


def read(case: corpus.Case) -> bounces.Bounce | None:
    return bounces.parse(corpus.returned_to(corpus.raw(case), ITEM))


def test_the_public_messages_are_on_this_machine():
    absent = len(CASES) - len(PRESENT)
    if absent:
        pytest.skip(f"{absent} public messages are not on this machine (corpus/README.md)")


@pytest.mark.parametrize("case", PRESENT, ids=[case.path for case in PRESENT])
def test_it_reads_each_message_as_labelled(case):
    bounce = read(case)

    assert corpus.outcome_of(bounce) == (case.reads_as or case.outcome)
    if bounce is not None:
        assert bounce.item_id == ITEM


def test_no_known_miss_is_a_false_positive_or_invalidates_a_good_address():
    for case in CASES:
        if case.reads_as:
            assert case.outcome != "none", case.path
            assert case.reads_as != "hard", case.path


def test_the_committed_messages_score_at_least_95_percent():
    score = corpus.score([case for case in CASES if case.source == "own"], bounces.parse)

    assert score.all.total == len([case for case in CASES if case.source == "own"])
    assert score.all.percent >= 95
    assert (score.all.false_positives, score.all.invalidated, score.all.wrong_item) == (0, 0, 0)


@pytest.mark.django_db
def test_the_committed_bounces_end_in_the_log_and_on_the_address():
    """Returned to real queue items and recorded: hard invalidates, soft counts, blocked and
    what is not a bounce change nothing."""
    own = [case for case in CASES if case.source == "own"]
    items = [SentQueueItemFactory(email_address=EmailAddressFactory()) for _case in own]
    reports = [
        bounces.parse(corpus.returned_to(corpus.raw(case), item.pk))
        for case, item in zip(own, items, strict=True)
    ]
    bounces.record_all([report for report in reports if report is not None])

    for case, item in zip(own, items, strict=True):
        kinds = CampaignLogRecord.objects.filter(queue_item=item, action="bounced")
        expected = case.reads_as or case.outcome
        logged = [expected] if expected in ("hard", "soft", "blocked") else []
        assert list(kinds.values_list("bounce_type", flat=True)) == logged, case.path
        item.email_address.refresh_from_db()
        address = item.email_address
        assert address.invalid == (expected == "hard"), case.path
        assert address.soft_bounces == (1 if expected == "soft" else 0), case.path
        assert address.opt_out == (expected == "complaint"), case.path
