"""Waits for a time across a daylight saving change: days (and weeks) keep the hour on the
installation's clock, hours are counted as they pass."""

import datetime

import pytest

from automation import engine, versions
from automation.models import Step
from tests.automation.helpers import HOUR, automation, join, only_enrolment, runs, send, wait
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


def utc(month: int, day: int, hour: int) -> datetime.datetime:
    return datetime.datetime(2026, month, day, hour, tzinfo=UTC)


@pytest.fixture(autouse=True)
def madrid(settings):
    settings.TIME_ZONE = "Europe/Madrid"  # 29 March 02:00 → 03:00; 25 October 03:00 → 02:00


@pytest.mark.parametrize(
    ("start", "waits", "due"),
    [
        (utc(3, 28, 8), {"days": 1}, utc(3, 29, 7)),  # 09:00 CET → 09:00 CEST
        (utc(3, 25, 8), {"days": 7}, utc(4, 1, 7)),  # a week: Wednesday 09:00 again
        (utc(10, 24, 7), {"days": 1}, utc(10, 25, 8)),  # 09:00 CEST → 09:00 CET
        (utc(10, 24, 7), {"days": 1, "hours": 2}, utc(10, 25, 10)),  # then 2 hours: 11:00
        (utc(3, 28, 8), {"hours": 24}, utc(3, 29, 8)),  # hours pass: 10:00 CEST
    ],
)
def test_a_wait_of_days_keeps_the_local_hour_and_hours_are_absolute(start, waits, due):
    made = automation(wait(**waits), send())
    join(made.trigger_list, ContactFactory())

    engine.tick(start)
    assert only_enrolment(made).due_at == due
    engine.tick(due - datetime.timedelta(minutes=1))
    assert runs(only_enrolment(made)) == []
    engine.tick(due)
    assert runs(only_enrolment(made)) == [(1, "waited"), (2, "queued")]


def test_a_condition_waited_for_a_day_decides_at_the_same_local_hour():
    made = automation(
        {
            "kind": Step.Kind.CONDITION,
            "condition": Step.ConditionKind.FIELD,
            "field_name": "title",
            "field_value": "CEO",
            "condition_wait_days": 1,
        },
        send(),
    )
    join(made.trigger_list, ContactFactory(title="Intern"))
    engine.tick(utc(3, 28, 8))  # Saturday 09:00 in Madrid

    engine.tick(utc(3, 29, 7))  # Sunday 09:00: its day is over, 23 hours later

    assert runs(only_enrolment(made)) == [(1, "no"), (2, "queued")]


def test_moved_to_a_new_version_a_wait_of_days_still_ends_at_its_local_hour():
    made = automation(send(), wait(days=1), send())
    join(made.trigger_list, ContactFactory())
    engine.tick(utc(3, 28, 8))
    versions.new_version(made)

    assert versions.move_to_newest(made, utc(3, 28, 9) + HOUR) == 1

    enrolment = only_enrolment(made)
    assert (enrolment.step.version, enrolment.due_at) == (2, utc(3, 29, 7))
