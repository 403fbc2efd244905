"""Every send and exit of an automation is in its campaign's log: sends as "Sent" (by the send
job, tests/automation/test_sending.py), each exit as "Left automation" with its reason, written
set-based, and shown by the log's admin page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from automation import engine, exits
from automation.models import Enrolment
from campaigns.models import CampaignLogRecord
from crm import events
from tests.automation.helpers import (
    DAY,
    HOUR,
    T0,
    automation,
    automation_with_every_exit,
    join,
    send,
    wait,
)
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
EXIT = CampaignLogRecord.Action.AUTOMATION_EXIT


def exits_logged(made) -> list[tuple[int | None, str]]:
    records = CampaignLogRecord.objects.filter(campaign=made.campaign, action=EXIT)
    return sorted(records.values_list("contact_id", "exit_reason"), key=str)


def test_each_exit_reason_adds_a_left_automation_record_to_the_campaign_log():
    made = automation_with_every_exit()
    goal_list, goal_url = made.goal_list, made.goal_tracking_url
    people = ann, bob, cy, dee, eve, fay, gus, hal = ContactFactory.create_batch(8)
    for person in people:
        join(made.trigger_list, person)
    engine.tick(T0)
    events.record_event(events.EMAIL_UNSUBSCRIBED, {}, person=ann)
    events.record_event(events.EMAIL_BOUNCED, {"kind": "hard"}, person=bob)
    events.record_event(events.EMAIL_COMPLAINED, {}, person=cy)
    events.record_event(
        events.LIST_MEMBER_REMOVED, {"target_list_id": made.trigger_list.pk}, person=dee
    )
    join(goal_list, eve)
    events.record_event(events.EMAIL_CLICKED, {"tracking_url_id": goal_url.pk}, person=fay)
    gone = gus.pk
    gus.delete()

    engine.tick(T0 + DAY)

    assert exits_logged(made) == sorted(
        [
            (ann.pk, "unsubscribed"),
            (bob.pk, "bounced"),
            (cy.pk, "complained"),
            (dee.pk, "left_list"),
            (eve.pk, "goal"),
            (fay.pk, "goal"),
            (None, "gone"),  # a person deleted is no longer there to point at
        ],
        key=str,
    )
    reasons = dict(made.enrolments.values_list("person_id", "exit_reason"))
    assert reasons[gone] == "gone" and reasons[hal.pk] == ""
    record = CampaignLogRecord.objects.get(action=EXIT, contact=ann)
    assert record.email == ann.email and record.email_address_id == ann.email_address_id
    # Completing the series is not an exit.
    engine.tick(T0 + 2 * DAY)
    assert made.enrolments.get(person_id=hal.pk).status == Enrolment.Status.COMPLETED
    assert len(exits_logged(made)) == 7


def test_a_person_deleted_before_a_step_that_is_not_a_send_is_logged_too():
    made = automation(wait(days=1), send())
    ann = ContactFactory()
    join(made.trigger_list, ann)
    engine.tick(T0)
    ann.delete()

    engine.tick(T0 + DAY)

    assert exits_logged(made) == [(None, "gone")]


def test_an_exit_of_several_automations_logs_in_each_campaign():
    one, two = automation(wait(days=1), send()), automation(wait(days=1), send())
    ann = ContactFactory()
    for made in (one, two):
        join(made.trigger_list, ann)
    engine.tick(T0)
    events.record_event(events.EMAIL_UNSUBSCRIBED, {}, person=ann)

    engine.tick(T0 + HOUR)

    assert exits_logged(one) == exits_logged(two) == [(ann.pk, "unsubscribed")]


@pytest.mark.parametrize("size", [3, 30])
def test_exits_are_set_based_whatever_the_number_of_people(size):
    made = automation(wait(days=1), send())
    people = ContactFactory.create_batch(size)
    for person in people:
        join(made.trigger_list, person)
    engine.tick(T0)

    with CaptureQueriesContext(connection) as queries:
        ended = exits.end(made.enrolments.all(), Enrolment.Reason.GOAL, T0 + HOUR)

    assert ended == size == len(exits_logged(made))
    assert len(queries) <= 8  # a read, an update, an insert, the addresses; not one per person


def test_the_log_page_shows_the_exit_and_its_reason(admin_client):
    made = automation(wait(days=1), send())
    ann = ContactFactory()
    join(made.trigger_list, ann)
    engine.tick(T0)
    events.record_event(events.EMAIL_UNSUBSCRIBED, {}, person=ann)
    engine.tick(T0 + HOUR)
    url = reverse("admin:campaigns_campaignlogrecord_changelist")

    page = admin_client.get(url, {"campaign__id__exact": made.campaign_id})

    assert page.status_code == 200
    assert "Left automation: Unsubscribed" in page.content.decode()
    record = CampaignLogRecord.objects.get(action=EXIT)
    detail = admin_client.get(reverse("admin:campaigns_campaignlogrecord_change", args=[record.pk]))
    assert "Unsubscribed" in detail.content.decode()
