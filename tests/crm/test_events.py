"""The event stream (crm/events.py): written with the change, read once per consumer, in an
order no open transaction can slip in behind."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from crm import events
from crm.models import Contact, Event

pytestmark = pytest.mark.django_db(transaction=True)

needs_postgresql = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="concurrent writers need PostgreSQL"
)


def taken(consumer: str, **options) -> list[tuple[str, dict]]:
    seen: list[Event] = []
    events.take(consumer, seen.extend, **options)
    return [(e.type, e.data) for e in seen]


def test_a_consumer_hears_what_happens_after_it_starts_each_event_once():
    events.record_event(events.CONTACT_CREATED, {"n": 0})
    events.start("hooks")
    events.record_event(events.CONTACT_CREATED, {"n": 1})
    events.record_events(
        [events.NewEvent(events.EMAIL_SENT, {"n": n}, ("contact", n)) for n in (2, 3)]
    )

    assert taken("hooks") == [
        ("contact.created", {"n": 1}),
        ("email.sent", {"n": 2}),
        ("email.sent", {"n": 3}),
    ]
    assert taken("hooks") == []


def test_each_consumer_keeps_its_own_position_and_a_limit_leaves_the_rest_for_later():
    events.start("hooks")
    events.start("automation")
    events.record_events([events.NewEvent(events.EMAIL_OPENED, {"n": n}) for n in range(5)])

    assert [d["n"] for _, d in taken("hooks", limit=2)] == [0, 1]
    assert [d["n"] for _, d in taken("automation")] == [0, 1, 2, 3, 4]
    assert [d["n"] for _, d in taken("hooks")] == [2, 3, 4]


def test_types_filter_what_is_handed_over_and_the_position_moves_past_the_rest():
    events.start("automation")
    events.record_event(events.EMAIL_SENT, {"n": 0})
    events.record_event(events.LIST_MEMBER_ADDED, {"n": 1})

    assert taken("automation", types=[events.LIST_MEMBER_ADDED]) == [
        ("list.member_added", {"n": 1})
    ]
    assert events.take("automation", lambda e: None) == 0


def test_an_event_rolls_back_with_the_change_that_caused_it():
    events.start("hooks")
    with pytest.raises(RuntimeError), transaction.atomic():
        contact = Contact.objects.create(last_name="Gone")
        events.record_event(events.CONTACT_CREATED, {"id": contact.pk}, person=contact)
        raise RuntimeError("the change fails")

    assert taken("hooks") == []


def test_a_handler_that_fails_leaves_the_position_where_it_was():
    events.start("hooks")
    events.record_event(events.CONTACT_UPDATED, {"n": 0})

    def fail(batch):
        raise RuntimeError("receiver's table is full")

    with pytest.raises(RuntimeError):
        events.take("hooks", fail)

    assert taken("hooks") == [("contact.updated", {"n": 0})]


def test_a_person_is_stored_by_type_and_id():
    contact = Contact.objects.create(last_name="Ríos")
    event = events.record_event(events.CONTACT_CREATED, person=contact)
    event.refresh_from_db()
    assert (event.person_type, event.person_id) == ("contact", contact.pk)


def test_unknown_types_are_refused():
    with pytest.raises(ValueError, match="Unknown event type"):
        events.record_event("contact.exploded")


def test_purge_keeps_what_a_consumer_has_not_read():
    events.start("hooks")
    old = timezone.now() - timedelta(days=40)
    events.record_events([events.NewEvent(events.EMAIL_SENT, occurred_at=old) for _ in range(3)])
    assert events.purge(timedelta(days=30)) == 0  # unread

    taken("hooks", limit=2)
    assert events.purge(timedelta(days=30)) == 2
    assert Event.objects.count() == 1


@needs_postgresql
def test_a_reader_never_passes_an_event_whose_transaction_is_still_open():
    events.start("hooks")
    written, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                events.record_event(events.EMAIL_SENT, {"who": "slow"})  # the lower id
                written.set()
                release.wait(10)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert written.wait(10)
    events.record_event(events.EMAIL_SENT, {"who": "quick"})  # committed first

    assert taken("hooks") == []  # "quick" waits behind the open transaction
    release.set()
    assert done.wait(10)
    thread.join()

    assert [d["who"] for _, d in taken("hooks")] == ["slow", "quick"]


@needs_postgresql
def test_workers_taking_at_once_hand_each_event_over_once():
    events.start("hooks")
    events.record_events([events.NewEvent(events.EMAIL_CLICKED, {"n": n}) for n in range(400)])
    handled: list[int] = []
    lock = threading.Lock()

    def worker():
        try:
            while True:
                batch: list[Event] = []
                count = events.take("hooks", batch.extend, limit=7)
                with lock:
                    handled.extend(e.data["n"] for e in batch)
                if count == 0 and events.position("hooks")[1] == Event.objects.latest("id").id:
                    return
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(handled) == list(range(400))


@pytest.mark.django_db(transaction=False)
def test_a_reader_inside_the_writing_transaction_reads_its_own_events():
    """Tests (and a consumer called from the change's own transaction) see their own rows."""
    events.start("hooks")
    events.record_event(events.SUBSCRIPTION_CONFIRMED, {"n": 0})

    assert taken("hooks") == [("subscription.confirmed", {"n": 0})]


def test_a_consumer_that_reads_many_may_take_rows_instead_of_instances():
    events.start("automation")
    events.record_event(events.LIST_MEMBER_ADDED, {"target_list_id": 7}, person=("contact", 3))
    seen: list = []

    events.take("automation", seen.extend, rows=True)

    (row,) = seen
    assert not isinstance(row, Event)
    assert (row.type, row.person_type, row.person_id, row.data) == (
        "list.member_added",
        "contact",
        3,
        {"target_list_id": 7},
    )
    assert events.position("automation") == (row.tx, row.id)
