"""Automations triggered and ended by the events the product itself records (not events a test
writes by hand): what the webhooks see is what automation sees."""

import pytest

from automation import engine
from automation.models import Enrolment
from campaigns.models import EmailQueueItem
from crm.models import Contact
from targetlists.adding import add_to_target_list
from tests.automation.helpers import DAY, T0, automation, runs, send, wait
from tests.factories import ContactFactory
from tracking.opt_out import opt_out

pytestmark = pytest.mark.django_db


def test_joining_the_list_in_the_admin_enrols_and_unsubscribing_from_its_email_ends_it():
    made = automation(send(), wait(days=2), send())
    ann, bob = ContactFactory(), ContactFactory()

    add_to_target_list(made.trigger_list, Contact.objects.filter(pk__in=[ann.pk, bob.pk]))
    engine.tick(T0)

    enrolments = {e.person_id: e for e in Enrolment.objects.filter(automation=made)}
    assert set(enrolments) == {ann.pk, bob.pk}
    assert runs(enrolments[ann.pk]) == [(1, "queued")]

    welcome = EmailQueueItem.objects.get(mass_email__automated=True, contact=ann)
    opt_out(welcome, via="opt_out")
    engine.tick(T0 + 3 * DAY)

    enrolments[ann.pk].refresh_from_db()
    enrolments[bob.pk].refresh_from_db()
    assert (enrolments[ann.pk].status, enrolments[ann.pk].exit_reason) == (
        Enrolment.Status.EXITED,
        "unsubscribed",
    )
    assert len(runs(enrolments[bob.pk])) == 3  # Bob goes on to the second email
