"""Opens and clicks buffered in a real Redis (tracking.buffer), recorded by a drain."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from crm.celery import app as celery_app
from tests.factories import MassEmailFactory, SentQueueItemFactory, TrackingUrlFactory
from tracking import buffer
from tracking.models import TrackingHit
from tracking.recording import Visit
from tracking.tasks import record_tracking_hits

REDIS_URL = os.environ.get("CELERY_BROKER_URL", "")
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not REDIS_URL.startswith("redis://"),
        reason="needs a Redis: run with CELERY_BROKER_URL=redis://… (CI does)",
    ),
]

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
KEYS = (buffer.HITS, buffer.PROCESSING, buffer.LOCK, buffer.SCHEDULED)


@pytest.fixture
def buffered(settings):
    settings.TRACKING_BUFFER_URL = REDIS_URL
    settings.TRACKING_BUFFER_SIZE = 1000
    settings.TRACKING_BUFFER_SECONDS = 3600  # only the size makes a drain due in these tests
    test_redis = redis.Redis.from_url(REDIS_URL)
    test_redis.delete(*KEYS)
    yield
    test_redis.delete(*KEYS)


@pytest.fixture
def item():
    return SentQueueItemFactory()


@pytest.fixture
def link(item):
    return TrackingUrlFactory(campaign=item.mass_email.campaign, url="https://example.org/a?b=1")


def open_url(item_id: int) -> str:
    return reverse("tracking:open", args=[tokens.make(tokens.OPEN, item_id)])


def click_url(item_id: int, url_id: int) -> str:
    return reverse("tracking:click", args=[tokens.make(tokens.CLICK, item_id, url_id)])


def actions(item) -> list[str]:
    return sorted(
        CampaignLogRecord.objects.filter(queue_item=item).values_list("action", flat=True)
    )


def test_it_buffers_an_open_and_records_it_when_drained(client, buffered, item):
    response = client.get(open_url(item.pk), HTTP_USER_AGENT=BROWSER)

    assert response.status_code == 200
    assert buffer.pending() == 1
    assert not TrackingHit.objects.exists()
    assert buffer.drain() == 1
    assert actions(item) == ["opened"]
    hit = TrackingHit.objects.get()
    assert (hit.kind, hit.queue_item, hit.user_agent, hit.is_machine) == (
        "open",
        item,
        BROWSER,
        False,
    )
    assert buffer.pending() == 0


def test_it_buffers_a_click_and_redirects_to_the_stored_address(client, buffered, item, link):
    response = client.get(click_url(item.pk, link.pk), HTTP_USER_AGENT=BROWSER)

    assert response.status_code == 302
    assert response["Location"] == "https://example.org/a?b=1"
    assert buffer.pending() == 1
    buffer.drain()
    assert actions(item) == ["clicked", "opened"]
    assert TrackingHit.objects.get().tracking_url == link


def test_it_pushes_nothing_for_a_forged_token_or_a_head(client, buffered, item, link):
    forged = tokens.make(tokens.OPEN, item.pk)[:-2] + "xx"

    assert client.get(reverse("tracking:open", args=[forged])).status_code == 200
    assert client.head(open_url(item.pk)).status_code == 200
    assert client.get(click_url(item.pk, link.pk)[:-3] + "xx/").status_code == 404
    assert client.head(click_url(item.pk, link.pk)).status_code == 302
    assert buffer.pending() == 0


def test_it_redirects_only_to_a_stored_web_address(client, buffered, item, link):
    script = TrackingUrlFactory(campaign=item.mass_email.campaign, url="javascript:alert(1)")
    deleted = click_url(item.pk, link.pk)
    client.get(deleted)  # the link is cached now
    link.delete()

    assert client.get(click_url(item.pk, script.pk)).status_code == 404
    assert client.get(deleted).status_code == 404
    assert buffer.pending() == 1


def test_it_drops_clicks_of_a_link_of_another_campaign_when_drained(client, buffered, item):
    elsewhere = TrackingUrlFactory()
    client.get(click_url(item.pk, elsewhere.pk))

    buffer.drain()

    assert not TrackingHit.objects.exists()
    assert actions(item) == []


def test_it_has_a_worker_drain_once_the_buffer_holds_a_batch(client, buffered, settings):
    settings.TRACKING_BUFFER_SIZE = 3
    items = SentQueueItemFactory.create_batch(3)
    celery_app.conf.task_always_eager = True  # the enqueued drain runs here, as a worker would
    try:
        for each in items[:2]:
            client.get(open_url(each.pk), HTTP_USER_AGENT=BROWSER)
        assert buffer.pending() == 2
        client.get(open_url(items[2].pk), HTTP_USER_AGENT=BROWSER)
    finally:
        celery_app.conf.task_always_eager = False

    assert buffer.pending() == 0
    assert TrackingHit.objects.filter(queue_item__in=items).count() == 3


def test_it_enqueues_at_most_one_drain_a_second(client, buffered, settings, item):
    settings.TRACKING_BUFFER_SIZE = 1
    client.get(open_url(item.pk), HTTP_USER_AGENT=BROWSER)  # enqueues a drain (nobody runs it)

    assert buffer.client().exists(buffer.SCHEDULED)
    client.get(open_url(item.pk), HTTP_USER_AGENT=BROWSER)
    assert buffer.pending() == 2


@pytest.mark.django_db(transaction=True)
def test_it_loses_nothing_when_a_drain_fails_before_writing(client, buffered, item):
    client.get(open_url(item.pk), HTTP_USER_AGENT=BROWSER)
    name = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = "/nonexistent/mm-no-such-database"
    try:
        with pytest.raises(DatabaseError):
            buffer.drain()
    finally:
        connection.settings_dict["NAME"] = name
    assert buffer.pending() == 1

    assert buffer.drain() == 1
    assert TrackingHit.objects.filter(queue_item=item).count() == 1
    assert actions(item) == ["opened"]


def test_it_records_now_when_redis_is_unreachable(client, buffered, settings, item):
    settings.TRACKING_BUFFER_URL = "redis://127.0.0.1:1/0"

    client.get(open_url(item.pk), HTTP_USER_AGENT=BROWSER)

    assert actions(item) == ["opened"]


def test_the_command_and_the_beat_entry_record_what_is_left(client, buffered, item, link):
    client.get(open_url(item.pk), HTTP_USER_AGENT=BROWSER)
    call_command("record_tracking_hits")
    client.get(click_url(item.pk, link.pk), HTTP_USER_AGENT=BROWSER)

    assert record_tracking_hits() == 1
    assert TrackingHit.objects.filter(queue_item=item).count() == 2
    entry = PeriodicTask.objects.get(name="Record Tracking Hits")
    assert (entry.task, entry.crontab.minute) == ("tracking.tasks.record_tracking_hits", "*")


def _world() -> dict:
    """Items and links of one campaign; "fresh" was sent a moment ago."""
    mass_email = MassEmailFactory()
    items = {name: SentQueueItemFactory(mass_email=mass_email) for name in "abcd"}
    items["fresh"] = SentQueueItemFactory(mass_email=mass_email, sent_at=timezone.now())
    links = {n: TrackingUrlFactory(campaign=mass_email.campaign) for n in (1, 2)}
    return {"items": items, "links": links}


def _visit(client, world: dict) -> None:
    """Proxy, person, burst, too soon, scanner and hidden-link hits, in one order."""
    items, links = world["items"], world["links"]
    client.get(open_url(items["a"].pk), HTTP_USER_AGENT="Mozilla/5.0")
    client.get(open_url(items["a"].pk), HTTP_USER_AGENT=BROWSER)
    for name, link, agent in [("a", 1, BROWSER), ("b", 1, BROWSER), ("b", 1, BROWSER)]:
        client.get(click_url(items[name].pk, links[link].pk), HTTP_USER_AGENT=agent)
    client.get(click_url(items["b"].pk, links[2].pk), HTTP_USER_AGENT=BROWSER)
    client.get(click_url(items["fresh"].pk, links[1].pk), HTTP_USER_AGENT=BROWSER)
    client.get(click_url(items["c"].pk, links[2].pk), HTTP_USER_AGENT="curl/8.5.0")
    client.get(open_url(items["d"].pk), HTTP_USER_AGENT=BROWSER)
    client.get(click_url(items["d"].pk, 0), HTTP_USER_AGENT=BROWSER)  # the hidden link
    client.get(click_url(items["d"].pk, links[1].pk), HTTP_USER_AGENT=BROWSER)


def _outcome(world: dict) -> tuple[list, list]:
    names = {item.pk: name for name, item in world["items"].items()}
    links = {link.pk: n for n, link in world["links"].items()}
    hits = TrackingHit.objects.filter(queue_item__in=world["items"].values()).order_by("at", "id")
    verdicts = [
        (names[h.queue_item_id], h.kind, links.get(h.tracking_url_id), h.is_machine, h.reason)
        for h in hits
    ]
    log = CampaignLogRecord.objects.filter(queue_item__in=world["items"].values())
    rows = sorted((names[r.queue_item_id], r.action, links.get(r.tracking_url_id)) for r in log)
    return verdicts, rows


def test_it_records_the_rows_and_verdicts_the_synchronous_path_records(client, settings):
    at_once = _world()
    _visit(client, at_once)
    later = _world()
    settings.TRACKING_BUFFER_URL, settings.TRACKING_BUFFER_SIZE = REDIS_URL, 1000
    settings.TRACKING_BUFFER_SECONDS = 3600
    buffer.client().delete(*KEYS)

    _visit(client, later)
    assert buffer.pending() == 10
    buffer.drain()

    verdicts, rows = _outcome(later)
    assert (verdicts, rows) == _outcome(at_once)
    reasons = {reason for *_hit, reason in verdicts}
    assert reasons == {"", "proxy", "burst", "too_soon", "scanner", "trap"}


def test_it_marks_a_buffered_open_before_a_recorded_hidden_link_hit(client, buffered, item):
    early = timezone.now() - timedelta(seconds=2)
    TrackingHit.objects.create(
        queue_item=item, campaign=item.mass_email.campaign, kind="trap", at=timezone.now()
    )
    buffer.client().rpush(
        buffer.HITS, buffer.encode("open", item.pk, None, Visit(BROWSER, "", early))
    )

    buffer.drain()

    opened = TrackingHit.objects.get(kind="open")
    assert (opened.is_machine, opened.reason) == (True, "trap")


def test_it_drops_an_unreadable_record_and_records_the_rest(client, buffered, item):
    buffer.client().rpush(buffer.HITS, b"not json")
    client.get(open_url(item.pk), HTTP_USER_AGENT=BROWSER)

    assert buffer.drain() == 2
    assert actions(item) == ["opened"]
    assert buffer.pending() == 0


@contextmanager
def commands_on(key: str) -> Iterator[list[str]]:
    """The names of the commands Redis runs on `key` while the block runs, read off MONITOR.

    Only this key's commands count: another test run on the same Redis has its own keys (and
    Redis's commandstats would count its commands too). A command on a key of our own, after
    the block, marks the end of the stream to read: Redis feeds MONITOR in the order it runs
    commands."""
    names: list[str] = []
    watcher = redis.Redis.from_url(REDIS_URL, socket_timeout=30)
    with watcher.monitor() as monitor:
        yield names
        end = f"{key}:end-of-watch"
        buffer.client().exists(end)
        while True:
            name, _, rest = monitor.next_command()["command"].partition(" ")
            if rest == end:
                break
            if rest.partition(" ")[0] == key:
                names.append(name.upper())


def _wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_web_process_sends_its_hits_to_redis_together(client, buffered, settings, item, link):
    settings.TRACKING_BUFFER_FLUSH_MS = 1000  # the three requests take far less

    with commands_on(buffer.HITS) as commands:
        for url in (open_url(item.pk), open_url(item.pk), click_url(item.pk, link.pk)):
            client.get(url, HTTP_USER_AGENT=BROWSER)

        assert buffer.client().llen(buffer.HITS) == 0  # still in the outbox: no request waited
        assert _wait_for(lambda: buffer.client().llen(buffer.HITS) == 3)
    assert commands.count("RPUSH") == 1
    assert buffer.drain() == 3
    assert actions(item) == ["clicked", "opened"]


@pytest.mark.django_db(transaction=True)
def test_hits_wait_in_the_outbox_while_neither_redis_nor_the_database_takes_them(
    client, buffered, settings, item, caplog
):
    settings.TRACKING_BUFFER_URL = "redis://127.0.0.1:1/0"
    name = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = "/nonexistent/mm-no-such-database"
    try:
        response = client.get(open_url(item.pk), HTTP_USER_AGENT=BROWSER)
    finally:
        connection.settings_dict["NAME"] = name

    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert len(buffer._outbox) == 1
    assert "could not record 1 tracking hits; keeping them" in caplog.text
    settings.TRACKING_BUFFER_URL = REDIS_URL
    assert buffer.flush() == 1
    assert buffer.drain() == 1
    assert actions(item) == ["opened"]


def test_a_process_that_exits_sends_what_its_outbox_holds(buffered, item):
    code = (
        "from tracking import buffer\n"
        "from tracking.recording import Visit\n"
        f"buffer.push('open', {item.pk}, None, Visit('agent', 'client'))\n"
        "assert buffer.client().llen(buffer.HITS) == 0\n"
    )
    environment = os.environ | {
        "DJANGO_SETTINGS_MODULE": "settings",
        "TRACKING_BUFFER_URL": REDIS_URL,
        "TRACKING_BUFFER_FLUSH_MS": "600000",  # only the exit can send it
        "TRACKING_BUFFER_KEY_PREFIX": settings.TRACKING_BUFFER_KEY_PREFIX,
    }
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=root, env=environment, check=True
    )

    assert buffer.client().llen(buffer.HITS) == 1
    kind, item_id, url_id, visit = buffer.decode(buffer.client().lindex(buffer.HITS, 0))
    assert (kind, item_id, url_id, visit.user_agent) == ("open", item.pk, None, "agent")
