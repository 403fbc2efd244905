"""Every way an address gets flagged opted out or invalid tells the stream address.suppressed,
once per person with the address and once per flag: automations end for all of them. (The
API's suppression list: tests/api/test_audience.py.)"""

import pytest
from django.urls import reverse

from campaigns.authoring import tokens
from campaigns.models import MassEmailSettings
from crm import events, upsert
from crm.models import EmailAddress, Event
from people import privacy
from people.models import PeopleImport
from tests.factories import (
    ContactFactory,
    EmailAddressFactory,
    LeadFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TargetListEntryFactory,
    TargetListFactory,
)
from tests.people.importing import run_file
from tracking import bounces, feedback

pytestmark = pytest.mark.django_db


def suppressed() -> list[tuple]:
    found = Event.objects.filter(type=events.ADDRESS_SUPPRESSED)
    return sorted(
        (e.person_type, e.person_id, e.data["reason"], e.data["via"], e.data["email"])
        for e in found
    )


def removed() -> list[tuple]:
    found = Event.objects.filter(type=events.LIST_MEMBER_REMOVED)
    return sorted((e.person_id, e.data["list_id"], e.data.get("opted_out")) for e in found)


def shared(address: str = "ann@example.com"):
    """A contact and a lead with one address."""
    row = EmailAddressFactory(address=address)
    return ContactFactory(email_address=row), LeadFactory(email_address=row)


def test_an_invalid_import_tells_of_the_people_of_the_addresses_it_flags():
    ann, lead = shared()

    run_file(b"email\nann@example.com\nnew@example.com\n", purpose=PeopleImport.Purpose.INVALID)

    assert suppressed() == [
        ("contact", ann.pk, "invalid", "import", "ann@example.com"),
        ("lead", lead.pk, "invalid", "import", "ann@example.com"),
    ]


def test_an_api_upsert_that_opts_out_tells_of_everyone_with_the_address():
    ann, lead = shared()

    upsert.change_person(ann, values={}, wish=upsert.Consent(opted_out=True))

    assert [row[:4] for row in suppressed()] == [
        ("contact", ann.pk, "opted_out", "api"),
        ("lead", lead.pk, "opted_out", "api"),
    ]


def test_the_soft_bounce_limit_tells_of_the_address_made_invalid_once():
    config = MassEmailSettings.load()
    config.soft_bounce_limit = 2
    config.save()
    item = SentQueueItemFactory()

    for _ in range(3):
        later = SentQueueItemFactory(email_address=item.email_address, contact=item.contact)
        bounces.record_all([bounces.Bounce(later.pk, "soft", "4.2.2")])

    assert suppressed() == [("contact", item.contact_id, "invalid", "soft_bounces", item.email)]


def test_a_complaint_opts_the_address_out_for_everyone_with_it():
    ann, lead = shared()
    item = SentQueueItemFactory(contact=ann)

    feedback.record_complaint(item)
    feedback.record_complaint(item)

    assert [row[:4] for row in suppressed()] == [
        ("contact", ann.pk, "opted_out", "complaint"),
        ("lead", lead.pk, "opted_out", "complaint"),
    ]


def test_erasing_a_person_opts_the_address_out_for_those_who_share_it():
    ann, lead = shared()

    privacy.erase_person(ann)

    assert suppressed() == [("lead", lead.pk, "opted_out", "erasure", "ann@example.com")]


def test_the_admin_flags_tell_of_the_address(admin_client):
    ann, lead = shared()
    other = ContactFactory()
    row = ann.email_address
    change = reverse("admin:crm_emailaddress_change", args=[row.pk])

    admin_client.post(change, {"address": row.address, "opt_out": "on"})
    admin_client.post(change, {"address": row.address, "opt_out": "on"})  # no change
    changelist = reverse("admin:crm_emailaddress_changelist")
    selected = [row.pk, other.email_address_id]
    admin_client.post(changelist, {"action": "mark_invalid", "_selected_action": selected})

    assert EmailAddress.objects.get(pk=row.pk).opt_out
    assert [entry[:4] for entry in suppressed()] == [
        ("contact", ann.pk, "invalid", "admin"),
        ("contact", ann.pk, "opted_out", "admin"),
        ("contact", other.pk, "invalid", "admin"),
        ("lead", lead.pk, "invalid", "admin"),
        ("lead", lead.pk, "opted_out", "admin"),
    ]


def preferences_page(contact, *lists):
    mass_email = MassEmailFactory()
    mass_email.target_lists.set(lists)
    item = SentQueueItemFactory(mass_email=mass_email, contact=contact)
    return item, reverse("tracking:opt_out", args=[tokens.make(tokens.OPT_OUT, item.pk)])


def test_the_preference_pages_everything_opts_the_address_and_the_lists_out(client):
    ann, lead = shared()
    news, offers = TargetListFactory(), TargetListFactory()
    TargetListEntryFactory(target_list=news, contact=ann)
    TargetListEntryFactory(target_list=offers, contact=ann)
    _item, url = preferences_page(ann, news, offers)

    client.post(url, {"preferences": "1", "everything": "1"})

    assert [row[:4] for row in suppressed()] == [
        ("contact", ann.pk, "opted_out", "preferences"),
        ("lead", lead.pk, "opted_out", "preferences"),
    ]
    assert removed() == [(ann.pk, news.pk, True), (ann.pk, offers.pk, True)]
