"""Many people at once (automation/batches.py): a list import's enrolments and a claim's send
steps in set-based SQL, with what the one-by-one path does for each person."""

import pytest
from django.db import connection

from automation import batches, engine
from automation.models import Enrolment, Step, StepRun
from campaigns.models import EmailQueueItem
from tests.automation.helpers import T0, automation, join, send, wait
from tests.factories import ContactFactory, LeadFactory, TargetListFactory

pytestmark = pytest.mark.django_db


def outcomes(made) -> dict[tuple[str, int, int], str]:
    return {
        (run.enrolment.person_type, run.enrolment.person_id, run.step.order): run.outcome
        for run in StepRun.objects.filter(enrolment__automation=made).select_related(
            "enrolment", "step"
        )
    }


def test_a_contact_and_a_lead_sharing_an_address_get_one_message_the_first_to_enter():
    made = automation(send())
    lead = LeadFactory()
    contact = ContactFactory(email_address=lead.email_address)
    engine.add_by_hand(made, [("lead", lead.pk), ("contact", contact.pk)], T0)

    engine.tick(T0)

    assert outcomes(made) == {
        ("lead", lead.pk, 1): "queued",
        ("contact", contact.pk, 1): "already queued to this address",
    }
    (item,) = EmailQueueItem.objects.filter(mass_email__campaign=made.campaign)
    assert (item.lead_id, item.contact_id, item.email) == (lead.pk, None, lead.email)
    run = StepRun.objects.get(enrolment__person_type="lead")
    assert run.queue_item_id == item.pk


def test_an_address_a_later_claim_finds_queued_is_not_queued_again(monkeypatch):
    monkeypatch.setattr(engine, "CLAIM", 2)
    made = automation(send())
    ann = ContactFactory()
    others = ContactFactory.create_batch(2)
    twin = ContactFactory(email_address=ann.email_address)
    people = [ann, *others, twin]  # Ann's claim of two, then her twin's
    engine.add_by_hand(made, [("contact", p.pk) for p in people], T0)

    engine.tick(T0)

    assert outcomes(made)[("contact", twin.pk, 1)] == "already queued to this address"
    assert EmailQueueItem.objects.filter(mass_email__campaign=made.campaign).count() == 3


def test_claims_smaller_than_the_due_people_run_every_step_once_sends_and_the_rest(
    monkeypatch,
):
    monkeypatch.setattr(engine, "CLAIM", 7)
    monkeypatch.setattr(engine, "BATCH", 3)
    series = automation(send(), send())
    listed = TargetListFactory()
    paced = automation({"kind": Step.Kind.ADD_TO_LIST, "target_list": listed}, send())
    people = ContactFactory.create_batch(10)
    for made in (series, paced):
        engine.add_by_hand(made, [("contact", p.pk) for p in people], T0)

    report = engine.tick(T0)

    assert (report.steps, report.completed, report.problems) == (40, 20, [])
    assert not Enrolment.objects.exclude(leased_by="").exists()
    assert not Enrolment.objects.exclude(status="completed").exists()
    assert set(outcomes(series).values()) == {"queued"} and len(outcomes(series)) == 20
    assert sorted(outcomes(paced).values()) == ["added"] * 10 + ["queued"] * 10
    for made, emails in ((series, 2), (paced, 1)):
        sent = EmailQueueItem.objects.filter(mass_email__campaign=made.campaign)
        assert sorted(sent.values_list("contact_id", flat=True)) == sorted(
            p.pk for p in people for _ in range(emails)
        )


def test_a_list_import_enrols_each_person_once_whatever_the_repeats():
    made = automation(wait(days=1), send())
    people = ContactFactory.create_batch(5)
    for person in [*people, *people[:2]]:
        join(made.trigger_list, person)

    report = engine.tick(T0)

    assert report.enrolled == 5
    entered = made.enrolments.values_list("person_id", "entry", "status", "step__order")
    assert sorted(entered) == sorted((p.pk, 1, "active", 1) for p in people)


def test_many_joining_the_goal_list_at_once_end_their_enrolments_together():
    goal_list = TargetListFactory()
    made = automation(wait(days=1), send(), goal_list=goal_list)
    people = ContactFactory.create_batch(120)  # more than an IN list's worth: one parameter
    engine.add_by_hand(made, [("contact", p.pk) for p in people], T0)
    for person in people[:110]:
        join(goal_list, person)

    report = engine.tick(T0)

    assert report.exited == 110
    reasons = dict(made.enrolments.values_list("person_id", "exit_reason"))
    assert reasons == {p.pk: "goal" if n < 110 else "" for n, p in enumerate(people)}


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's statistics")
def test_a_tick_that_fills_the_tables_renews_their_statistics(monkeypatch):
    """Planned on the statistics of empty tables, the joins of a 100,000-person tick went
    quadratic: the tick ANALYZEs the tables it has grown (batches.Statistics)."""
    monkeypatch.setattr(batches.Statistics, "GROWN", 20)
    monkeypatch.setattr(engine, "CLAIM", 30)
    made = automation(send(), send())
    engine.add_by_hand(made, [("contact", ContactFactory().pk) for _n in range(60)], T0)

    def counted(table: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
            return cursor.fetchone()[0]

    assert counted("automation_steprun") <= 0  # never analyzed (-1), or empty
    report = engine.tick(T0)
    assert report.steps == 120
    assert counted("automation_steprun") >= 60
    assert counted("automation_enrolment") >= 60
