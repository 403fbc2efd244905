"""Automations triggered and ended by the events the product itself records (not events a test
writes by hand): what the webhooks see is what automation sees."""

import pytest
from django.urls import reverse

from automation import engine
from automation.models import Automation, Enrolment
from campaigns.authoring import tokens
from campaigns.models import EmailQueueItem, MassEmailSettings
from crm import suppression
from crm.models import Contact
from targetlists.adding import add_to_target_list
from targetlists.models import TargetListEntry
from tests.automation.helpers import DAY, T0, automation, only_enrolment, runs, send, wait
from tests.factories import (
    ContactFactory,
    EmailAddressFactory,
    LeadFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TrackingUrlFactory,
)
from tracking import bounces, feedback
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


SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel)"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def click(client, item, link, agent: str) -> None:
    url = reverse("tracking:click", args=[tokens.make(tokens.CLICK, item.pk, link.pk)])
    assert client.get(url, HTTP_USER_AGENT=agent).status_code == 302


def test_a_persons_click_after_a_scanners_enrols_in_the_clicked_link_automation(client):
    item = SentQueueItemFactory()
    link = TrackingUrlFactory(campaign=item.mass_email.campaign)
    made = automation(send(), trigger=Automation.Trigger.LINK_CLICKED, trigger_tracking_url=link)

    click(client, item, link, SCANNER)
    engine.tick(T0)
    assert not made.enrolments.exists()

    click(client, item, link, BROWSER)
    engine.tick(T0)
    assert list(made.enrolments.values_list("person_type", "person_id")) == [
        ("contact", item.contact_id)
    ]


def test_a_persons_click_on_the_goal_link_after_a_scanners_ends_the_enrolment(client):
    item = SentQueueItemFactory()
    link = TrackingUrlFactory(campaign=item.mass_email.campaign)
    made = automation(wait(days=1), send(), goal_tracking_url=link)
    engine.add_by_hand(made, [("contact", item.contact_id)], T0)

    click(client, item, link, SCANNER)
    engine.tick(T0)
    assert only_enrolment(made).status == Enrolment.Status.ACTIVE

    click(client, item, link, BROWSER)
    engine.tick(T0)
    enrolment = only_enrolment(made)
    assert (enrolment.status, enrolment.exit_reason) == (Enrolment.Status.EXITED, "goal")


def status(made, person) -> tuple[str, str]:
    enrolment = made.enrolments.get(person_id=person.pk, person_type=person._meta.model_name)
    return enrolment.status, enrolment.exit_reason


EXITED = Enrolment.Status.EXITED


def test_opting_out_of_everything_ends_it_for_every_person_with_the_address(client):
    row = EmailAddressFactory()
    ann, lead = ContactFactory(email_address=row), LeadFactory(email_address=row)
    made = automation(wait(days=1), send())
    engine.add_by_hand(made, [("contact", ann.pk), ("lead", lead.pk)], T0)
    item = SentQueueItemFactory(contact=ann)
    page = reverse("tracking:opt_out", args=[tokens.make(tokens.OPT_OUT, item.pk)])

    client.post(page, {"preferences": "1", "everything": "1"})
    engine.tick(T0)

    assert status(made, ann) == status(made, lead) == (EXITED, "unsubscribed")


def test_an_address_suppressed_as_invalid_ends_it_for_every_person_with_it():
    row = EmailAddressFactory()
    ann, lead, bob = (
        ContactFactory(email_address=row),
        LeadFactory(email_address=row),
        ContactFactory(),
    )
    made = automation(wait(days=1), send())
    people = [("contact", ann.pk), ("lead", lead.pk), ("contact", bob.pk)]
    engine.add_by_hand(made, people, T0)

    suppression.suppress([row.address.upper()], "invalid")  # as the API and its callers do
    engine.tick(T0)

    assert status(made, ann) == status(made, lead) == (EXITED, "bounced")
    assert status(made, bob) == (Enrolment.Status.ACTIVE, "")


def test_the_soft_bounce_limit_ends_it():
    item = SentQueueItemFactory()
    made = automation(wait(days=1), send())
    engine.add_by_hand(made, [("contact", item.contact_id)], T0)

    for _ in range(MassEmailSettings.load().soft_bounce_limit):
        later = SentQueueItemFactory(email_address=item.email_address, contact=item.contact)
        bounces.record_all([bounces.Bounce(later.pk, "soft", "4.2.2")])
    engine.tick(T0)

    assert status(made, item.contact) == (EXITED, "bounced")


def test_marking_the_entry_opted_out_in_the_admin_is_leaving_the_trigger_list(admin_client):
    made = automation(wait(days=1), send(), exit_on_leaving_list=True)
    ann = ContactFactory()
    add_to_target_list(made.trigger_list, Contact.objects.filter(pk=ann.pk))
    engine.tick(T0)
    entry = TargetListEntry.objects.get(target_list=made.trigger_list, contact=ann)

    changelist = reverse("admin:targetlists_targetlistentry_changelist")
    admin_client.post(changelist, {"action": "mark_opted_out", "_selected_action": [entry.pk]})
    engine.tick(T0)

    assert status(made, ann) == (EXITED, "left_list")


def enrolled_from_the_trigger_list_with_its_preference_page():
    """An automation that ends when its list is left, Ann in it by joining that list, and the
    preference page of an email she got from that list."""
    made = automation(wait(days=1), send(), exit_on_leaving_list=True)
    ann = ContactFactory()
    add_to_target_list(made.trigger_list, Contact.objects.filter(pk=ann.pk))
    engine.tick(T0)
    mass_email = MassEmailFactory()
    mass_email.target_lists.set([made.trigger_list])
    item = SentQueueItemFactory(mass_email=mass_email, contact=ann)
    page = reverse("tracking:opt_out", args=[tokens.make(tokens.OPT_OUT, item.pk)])
    return made, ann, page


def test_opting_out_of_the_trigger_list_on_the_preference_page_is_leaving_it(client):
    made, ann, page = enrolled_from_the_trigger_list_with_its_preference_page()

    client.post(page, {"preferences": "1"})  # nothing ticked: every list left
    engine.tick(T0)

    assert status(made, ann) == (EXITED, "left_list")


def test_opting_out_of_everything_from_the_trigger_list_is_unsubscribing_not_leaving(client):
    made, ann, page = enrolled_from_the_trigger_list_with_its_preference_page()

    client.post(page, {"preferences": "1", "everything": "1"})
    engine.tick(T0)

    assert status(made, ann) == (EXITED, "unsubscribed")


def test_a_complaint_ends_it_as_a_complaint():
    made = automation(wait(days=1), send())
    ann = ContactFactory()
    engine.add_by_hand(made, [("contact", ann.pk)], T0)

    feedback.record_complaint(SentQueueItemFactory(contact=ann))
    engine.tick(T0)

    assert status(made, ann) == (EXITED, "complained")
