"""An event the engine cannot handle is skipped with its id in the job log; the events after
it, the due steps and every later tick go on."""

import pytest
from django.utils import timezone

from automation import engine
from automation.models import Enrolment
from automation.running import run_recorded_tick
from crm import events
from crm.jobs import RUN_AUTOMATIONS
from crm.models import JobRun
from tests.automation.helpers import DAY, automation, join, runs, send, wait
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_a_malformed_event_is_skipped_and_the_rest_goes_on():
    made = automation(send(), wait(days=1), send())
    ann, bob, carl, dora = ContactFactory.create_batch(4)
    join(made.trigger_list, ann)
    engine.tick(timezone.now() - 2 * DAY)  # Ann's second email is due now
    join(made.trigger_list, bob)
    bad_join = events.record_event(events.LIST_MEMBER_ADDED, "list 7", person=carl)
    bad_click = events.record_event(events.EMAIL_CLICKED, ["url", 3], person=dora)
    join(made.trigger_list, dora)

    report = run_recorded_tick()

    assert report.skipped == 2
    enrolled = set(made.enrolments.values_list("person_id", flat=True))
    assert enrolled == {ann.pk, bob.pk, dora.pk}
    assert [order for order, _outcome in runs(made.enrolments.get(person_id=ann.pk))] == [1, 2, 3]
    run = JobRun.objects.filter(job=RUN_AUTOMATIONS).latest("id")
    assert run.status == JobRun.Status.FAILED
    assert f"event #{bad_join.pk} (list.member_added) skipped: MalformedEvent" in run.error
    assert f"event #{bad_click.pk} (email.clicked) skipped" in run.error
    assert "2 events skipped" in run.summary

    later = engine.tick()  # the position moved past them: nothing fails again

    assert (later.skipped, later.problems) == (0, [])


def test_an_event_without_its_list_or_link_ends_no_enrolment():
    # A filter on a missing id would be IS NULL: every automation without a goal list or link
    # would take the person as having reached it.
    made = automation(wait(days=1), send())
    ann = ContactFactory()
    join(made.trigger_list, ann)
    engine.tick()

    events.record_event(events.LIST_MEMBER_ADDED, {"source": "api"}, person=ann)
    events.record_event(events.LIST_MEMBER_REMOVED, {}, person=ann)
    events.record_event(events.EMAIL_CLICKED, {"human": True}, person=ann)
    report = engine.tick()

    assert report.skipped == 3 and report.exited == 0
    assert made.enrolments.get().status == Enrolment.Status.ACTIVE
