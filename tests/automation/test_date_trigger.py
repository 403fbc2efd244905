"""A date trigger (birthday): every year for each person, once for each year's date, whatever
the re-entry rule; a 29 February on the 28th in the years without one."""

import datetime

import pytest

from automation import engine
from automation.models import Automation
from campaigns.models import EmailQueueItem
from tests.automation.helpers import automation, send
from tests.factories import ContactFactory, LeadFactory

pytestmark = pytest.mark.django_db
date = datetime.date


def birthdays(**fields) -> Automation:
    """One email on the day, at 9 in the installation's time zone (UTC in the tests)."""
    return automation(
        send(),
        trigger=Automation.Trigger.DATE_FIELD,
        trigger_date_field="birthday",
        trigger_hour=9,
        **fields,
    )


def at(day: date, hour: int) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, hour, tzinfo=datetime.UTC)


def occurrences(made: Automation, person) -> list[date]:
    found = made.enrolments.filter(person_id=person.pk, person_type=person._meta.model_name)
    return sorted(found.values_list("occurrence", flat=True))


def emails_to(person) -> int:
    return EmailQueueItem.objects.filter(email=person.email).count()


def test_a_birthday_fires_every_year_once_with_the_default_re_entry_never():
    made = birthdays()
    assert made.reentry == Automation.Reentry.NEVER
    ann = ContactFactory(birthday=date(1990, 3, 9))

    for year in (2026, 2027, 2028):
        engine.tick(at(date(year, 3, 9), 8))  # before the hour: not yet
        engine.tick(at(date(year, 3, 9), 9))
        engine.tick(at(date(year, 3, 9), 15))  # later the same day: not again
        engine.tick(at(date(year, 3, 10), 9))

    assert occurrences(made, ann) == [date(2026, 3, 9), date(2027, 3, 9), date(2028, 3, 9)]
    assert emails_to(ann) == 3


def test_a_29_february_birthday_fires_on_the_28th_in_the_years_without_one():
    made = birthdays()
    leap = LeadFactory(birthday=date(2000, 2, 29))
    other = ContactFactory(birthday=date(1990, 2, 28))

    for year in (2026, 2027, 2028):
        for day in range(27, 30 if year == 2028 else 29):
            engine.tick(at(date(year, 2, day), 10))
        engine.tick(at(date(year, 3, 1), 10))

    assert occurrences(made, leap) == [date(2026, 2, 28), date(2027, 2, 28), date(2028, 2, 29)]
    assert occurrences(made, other) == [date(2026, 2, 28), date(2027, 2, 28), date(2028, 2, 28)]
    assert emails_to(leap) == 3


def test_never_twice_for_one_date_even_with_re_entry_always_and_overlapping_ticks():
    made = birthdays(reentry=Automation.Reentry.ALWAYS)
    ann = ContactFactory(birthday=date(1990, 3, 9))
    engine.tick(at(date(2026, 3, 9), 9))
    engine.tick(at(date(2026, 3, 9), 10))  # the first enrolment is complete by now

    # A tick that read who was due before the first enrolled finds it done.
    late = engine.enrol(made, [("contact", ann.pk)], at(date(2026, 3, 9), 9), date(2026, 3, 9))

    assert late == 0
    assert occurrences(made, ann) == [date(2026, 3, 9)]
    assert emails_to(ann) == 1


def test_re_entry_counts_within_a_year_so_a_date_edited_after_it_fired_waits_a_year():
    made = birthdays()
    ann = ContactFactory(birthday=date(1990, 3, 9))
    engine.tick(at(date(2026, 3, 9), 9))
    ann.birthday = date(1990, 5, 1)  # a typo corrected
    ann.save()

    engine.tick(at(date(2026, 5, 1), 9))
    engine.tick(at(date(2027, 5, 1), 9))

    assert occurrences(made, ann) == [date(2026, 3, 9), date(2027, 5, 1)]
