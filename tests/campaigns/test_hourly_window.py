"""The hourly window read from counts per minute (campaigns.sending.window): exact at its
edge, kept in step with the items' status by recording, on SQLite and PostgreSQL."""

import threading
from datetime import UTC, datetime, timedelta
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection, connections
from django.utils import timezone

from campaigns.models import EmailQueueItem, SentMinute
from campaigns.sending import claims, outcomes, window
from tests.factories import MassEmailFactory, PendingQueueItemFactory, SentQueueItemFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 6, 12, 0, 30, tzinfo=UTC)  # the window starts at 11:00:30


def sent_at(*times: datetime) -> list[EmailQueueItem]:
    return [SentQueueItemFactory(sent_at=at) for at in times]


def test_its_first_minute_counts_only_what_was_sent_from_the_windows_start_on():
    sent_at(
        datetime(2026, 12, 6, 10, 59, 59, tzinfo=UTC),
        datetime(2026, 12, 6, 11, 0, 29, 999999, tzinfo=UTC),
        datetime(2026, 12, 6, 11, 0, 30, tzinfo=UTC),  # the window's first instant
        datetime(2026, 12, 6, 11, 0, 59, tzinfo=UTC),
        datetime(2026, 12, 6, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 6, 12, 0, 30, tzinfo=UTC),
    )

    assert window.sent_in_window(NOW) == 4
    assert window.sent_in_window(NOW + timedelta(seconds=30)) == 2
    assert window.sent_in_window(NOW + timedelta(hours=1)) == 1
    assert window.sent_in_window(NOW + timedelta(hours=1, microseconds=1)) == 0


def test_a_sent_message_whose_row_is_deleted_still_counts():
    # A message sent is sent, whatever happens to its row afterwards (a mass email deleted):
    # the window never counts less than went out, in its first minute or a later one.
    first_minute = NOW - timedelta(minutes=59, seconds=50)
    before_the_window = NOW - timedelta(minutes=60, seconds=10)  # in the same first minute
    sent = sent_at(first_minute, NOW - timedelta(minutes=5), before_the_window)
    assert window.sent_in_window(NOW) == 2

    EmailQueueItem.objects.filter(pk__in=[item.pk for item in sent[:2]]).delete()

    assert window.sent_in_window(NOW) == 2
    assert claims.hourly_allowance(3, NOW) == 1
    # One sent before the window's start, deleted too, is merely not taken off: a little high
    # for the rest of that minute, never too low.
    EmailQueueItem.objects.filter(pk=sent[2].pk).delete()
    assert window.sent_in_window(NOW) == 3
    assert window.sent_in_window(NOW + timedelta(seconds=30)) == 1


def test_recording_counts_the_sent_items_but_not_tests_nor_claims_taken_back():
    mass_email = MassEmailFactory(status="in_process")
    items = PendingQueueItemFactory.create_batch(4, mass_email=mass_email)
    EmailQueueItem.objects.filter(pk__in=[item.pk for item in items]).update(status="sending")
    EmailQueueItem.objects.filter(pk=items[2].pk).update(is_test=True)
    # Resolved as stale meanwhile: it is no longer this worker's to record.
    EmailQueueItem.objects.filter(pk=items[3].pk).update(status="pending")
    for item in items:
        item.refresh_from_db()
    rendered = SimpleNamespace(recipient="someone@example.org", data=b"x")
    results = [outcomes.Outcome(item, outcomes.SENT, rendered=rendered) for item in items]

    outcomes.record(results, mass_email, SimpleNamespace(max_attempts=3))

    assert sum(SentMinute.objects.values_list("sent", flat=True)) == 2
    statuses = EmailQueueItem.objects.filter(status="sent", is_test=False).count()
    assert statuses == 2


@pytest.mark.django_db(transaction=True)
def test_workers_recording_at_once_lose_no_count():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one worker")
    mass_email = MassEmailFactory(status="in_process")
    items = PendingQueueItemFactory.create_batch(40, mass_email=mass_email)
    EmailQueueItem.objects.filter(mass_email=mass_email).update(status="sending")
    for item in items:
        item.refresh_from_db()
    rendered = SimpleNamespace(recipient="someone@example.org", data=b"x")
    start = threading.Barrier(4)
    errors = []

    def record(share: list[EmailQueueItem]) -> None:
        try:
            start.wait()
            for item in share:
                outcome = outcomes.Outcome(item, outcomes.SENT, rendered=rendered)
                outcomes.record([outcome], mass_email, SimpleNamespace(max_attempts=3))
        except Exception as exc:  # noqa: BLE001  reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=record, args=(items[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(SentMinute.objects.values_list("sent", flat=True)) == 40
    assert window.sent_in_window(timezone.now()) == 40


def test_counts_older_than_two_hours_are_forgotten():
    sent_at(NOW - timedelta(minutes=121), NOW - timedelta(minutes=119))

    window.forget_old(NOW)

    assert [row.minute for row in SentMinute.objects.all()] == [
        window.minute_of(NOW - timedelta(minutes=119))
    ]


def test_the_migration_counts_what_was_sent_before_it():
    now = timezone.now()
    sent_at(now - timedelta(minutes=30), now - timedelta(minutes=30), now - timedelta(hours=3))
    SentQueueItemFactory(sent_at=now - timedelta(minutes=10), is_test=True)
    SentMinute.objects.all().delete()
    migration = import_module("campaigns.migrations.0021_sent_minutes")

    migration.count_the_last_hour(apps, SimpleNamespace(connection=connection))

    assert window.sent_in_window(now) == 2
