"""Exactly once: overlapping ticks, a redelivered task, a worker killed mid-step (its lease),
on SQLite (one writer) and PostgreSQL (SKIP LOCKED, real threads)."""

import threading

import pytest
from django.db import connection, connections

from automation import engine
from automation.models import Enrolment, StepRun
from campaigns.models import EmailQueueItem
from tests.automation.helpers import DAY, T0, automation, send, wait
from tests.factories import ContactFactory

needs_postgresql = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="concurrent workers need PostgreSQL"
)


def enrolled(count: int, *steps):
    made = automation(*steps)
    people = ContactFactory.create_batch(count)
    engine.add_by_hand(made, [("contact", p.pk) for p in people], T0)
    return made, people


def sends_per_person(made) -> dict[int, int]:
    counts: dict[int, int] = {}
    for contact_id in EmailQueueItem.objects.filter(mass_email__campaign=made.campaign).values_list(
        "contact_id", flat=True
    ):
        counts[contact_id] = counts.get(contact_id, 0) + 1
    return counts


@pytest.mark.django_db
def test_two_claims_at_once_never_share_an_enrolment():
    enrolled(5, wait(days=1), send())  # the wait's end runs one by one: leased to a claim
    _token, first = engine.claim_and_send(T0 + DAY, 3, engine.TickReport())
    _token, second = engine.claim_and_send(T0 + DAY, 3, engine.TickReport())
    assert len(first) == 3 and len(second) == 2 and not set(first) & set(second)


@pytest.mark.django_db
def test_a_redelivered_tick_at_the_same_moment_repeats_nothing():
    made, people = enrolled(3, send(), wait(days=1), send())
    for _ in range(3):
        engine.tick(T0)
    engine.tick(T0 + DAY)
    engine.tick(T0 + DAY)
    assert sends_per_person(made) == {p.pk: 2 for p in people}


@pytest.mark.django_db
def test_a_killed_workers_claim_is_taken_up_after_the_lease_and_run_once():
    made, people = enrolled(2, wait(days=1), send(), send())
    # Claimed and leased, then the worker died: nothing ran.
    _dead_token, ids = engine.claim_and_send(T0 + DAY, 10, engine.TickReport())
    assert len(ids) == 2

    engine.tick(T0 + DAY + engine.LEASE / 2)
    assert StepRun.objects.count() == 0  # still leased: nobody takes it yet
    engine.tick(T0 + DAY + engine.LEASE * 2)
    assert sends_per_person(made) == {p.pk: 2 for p in people}
    assert not Enrolment.objects.exclude(leased_by="").exists()


@pytest.mark.django_db
def test_a_worker_whose_lease_ran_out_does_nothing_when_it_comes_back():
    made, people = enrolled(1, wait(days=1), send(), send())
    slow_token, ids = engine.claim_and_send(T0 + DAY, 10, engine.TickReport())
    engine.tick(T0 + DAY + engine.LEASE * 2)  # another worker took it over and ran it
    report = engine.TickReport()
    engine.run_enrolment(ids[0], slow_token, T0 + DAY + engine.LEASE * 3, report)
    assert report.steps == 0
    assert sends_per_person(made) == {people[0].pk: 2}


@pytest.mark.django_db
def test_a_step_already_recorded_is_never_done_again():
    made, (ann,) = enrolled(1, send(), send())
    enrolment = made.enrolments.get()
    first = made.steps.get(order=1)
    # As if a worker had recorded the step and its effect: the engine moves on without it.
    StepRun.objects.create(enrolment=enrolment, step=first, ran_at=T0, outcome="queued")
    engine.tick(T0)
    assert sends_per_person(made) == {ann.pk: 1}
    assert list(StepRun.objects.order_by("step__order").values_list("outcome", flat=True)) == [
        "queued",
        "queued",
    ]


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_four_workers_ticking_at_once_send_each_step_to_each_person_once():
    made, people = enrolled(300, send(), wait(days=1), send())
    errors = []

    def worker(moment):
        try:
            engine.tick(moment)
        except Exception as exc:  # noqa: BLE001  reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    for moment in (T0, T0 + DAY):
        threads = [threading.Thread(target=worker, args=(moment,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert sends_per_person(made) == {p.pk: 2 for p in people}
    assert StepRun.objects.count() == 300 * 3
    assert connection.vendor == "postgresql"
