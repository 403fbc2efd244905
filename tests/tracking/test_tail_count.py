"""Hits recorded one by one (no Redis buffer) have the results' tail counted soon after, not a
minute later (issue 21.2: a page view must not count a whole burst itself)."""

import pytest
from django.urls import reverse
from kombu import exceptions as kombu_errors

from campaigns.authoring import tokens
from campaigns.models import TailBlock
from campaigns.results import counters
from crm.celery import app
from tests.factories import SentQueueItemFactory
from tracking import recording
from tracking import tasks as _registered  # noqa: F401  (the task runs eagerly only if known here)
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def eager_tasks_and_small_blocks(monkeypatch, settings):
    """The asked-for task runs here and now (a real run of it, no worker needed); blocks of
    two ids, so a few hits fill some; no buffer."""
    settings.TRACKING_BUFFER_URL = ""
    eager = app.conf.task_always_eager
    app.conf.update(task_always_eager=True)
    monkeypatch.setattr(counters, "TAIL_BLOCK", 2)
    monkeypatch.setattr(recording, "_tail_count_asked", [float("-inf")])
    yield
    app.conf.update(task_always_eager=eager)


def open_hits(client, count: int) -> None:
    items = SentQueueItemFactory.create_batch(count)
    for item in items:
        token = tokens.make(tokens.OPEN, item.pk)
        assert client.get(reverse("tracking:open", args=[token])).status_code == 200


def kept_hit_blocks() -> int:
    return TailBlock.objects.filter(source=counters.HITS).count()


def test_hits_recorded_one_by_one_have_their_blocks_counted(client, monkeypatch):
    monkeypatch.setattr(recording, "TAIL_COUNT_SECONDS", 0)

    open_hits(client, 5)

    assert kept_hit_blocks() >= 2  # five hits fill two blocks of two at least


def test_a_process_asks_at_most_once_in_its_interval(client, monkeypatch):
    monkeypatch.setattr(recording, "TAIL_COUNT_SECONDS", 3600)

    open_hits(client, 1)  # asks
    kept = kept_hit_blocks()
    open_hits(client, 4)  # within the hour: does not ask again

    assert kept_hit_blocks() == kept
    monkeypatch.setattr(recording, "_tail_count_asked", [float("-inf")])
    open_hits(client, 1)
    assert kept_hit_blocks() >= kept + 2


def test_a_broker_that_is_down_costs_the_hit_nothing(client, monkeypatch, caplog):
    def broker_down(*args, **options):
        raise kombu_errors.OperationalError("[Errno 111] Connection refused")

    monkeypatch.setattr(recording, "run_task", broker_down)
    monkeypatch.setattr(recording, "TAIL_COUNT_SECONDS", 0)

    open_hits(client, 1)

    assert TrackingHit.objects.count() == 1
    assert "could not ask for the results' tail to be counted" in caplog.text
