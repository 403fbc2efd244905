"""The welcome series of the marketers' guide (docs/marketers.md), step by step as written
there: who opened "Getting started" is done, the others get "Still there?"."""

import pytest

from automation import engine
from automation.models import Enrolment, Step
from tests.automation.helpers import DAY, HOUR, T0, automation, join, runs, send, wait
from tests.factories import ContactFactory, EmailTemplateFactory
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db


def welcome_series():
    """1 send "Welcome"; 2 wait 3 days; 3 send "Getting started"; 4 condition: opened the
    email of step 3, waits up to 4 days, if yes end here; 5 send "Still there?"."""
    made = automation(
        send(EmailTemplateFactory(name="Welcome")),
        wait(days=3),
        send(EmailTemplateFactory(name="Getting started")),
        {"kind": Step.Kind.CONDITION, "condition": "opened", "condition_wait_days": 4},
        send(EmailTemplateFactory(name="Still there?")),
        activate=False,
    )
    made.steps.filter(order=4).update(condition_step=made.steps.get(order=3), yes_ends=True)
    engine.activate(made)
    return made


def opens(enrolment: Enrolment, order: int) -> None:
    run = enrolment.runs.get(step__order=order)
    TrackingHit.objects.create(
        queue_item=run.queue_item, campaign=enrolment.automation.campaign, kind="open"
    )


def test_who_opened_is_done_and_only_the_others_get_still_there():
    made = welcome_series()
    ann, bob = ContactFactory(), ContactFactory()
    for person in (ann, bob):
        join(made.trigger_list, person)
    engine.tick(T0)
    engine.tick(T0 + 3 * DAY)
    opens(made.enrolments.get(person_id=ann.pk), 3)

    engine.tick(T0 + 3 * DAY + HOUR)  # Ann's open is seen at the next check
    engine.tick(T0 + 7 * DAY)  # Bob's four days are over

    ann_in, bob_in = made.enrolments.get(person_id=ann.pk), made.enrolments.get(person_id=bob.pk)
    assert runs(ann_in) == [(1, "queued"), (2, "waited"), (3, "queued"), (4, "yes")]
    assert runs(bob_in) == [(1, "queued"), (2, "waited"), (3, "queued"), (4, "no"), (5, "queued")]
    assert {ann_in.status, bob_in.status} == {Enrolment.Status.COMPLETED}
