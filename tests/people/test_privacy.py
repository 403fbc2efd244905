import json

import pytest
from django.urls import reverse

from campaigns.models import CampaignLogRecord, EmailQueueItem
from crm import consent
from crm.models import ConsentRecord, Contact, EmailAddress, Lead, SuppressedAddress
from people import privacy
from tests.factories import (
    CampaignLogRecordFactory,
    ContactFactory,
    EmailAddressFactory,
    LeadFactory,
    MarketerFactory,
    TargetListEntryFactory,
)
from tests.people.importing import rejected_rows, run_file

pytestmark = pytest.mark.django_db


def a_mailed_contact():
    entry = TargetListEntryFactory(contact=ContactFactory(first_name="Eva", last_name="Ruiz"))
    contact = entry.contact
    record = CampaignLogRecordFactory(queue_item__contact=contact)
    consent.record("opt_in", "form", address=contact.email_address, person=contact, text="Yes")
    return contact, record


def test_it_exports_fields_lists_consent_and_log():
    contact, record = a_mailed_contact()

    data = privacy.export_person(contact)

    assert data["fields"]["first_name"] == "Eva"
    assert data["email_address"]["address"] == contact.email
    assert [e["list"] for e in data["target_lists"]] == [
        str(contact.targetlistentry_set.get().target_list)
    ]
    assert data["consent_records"][0]["text"] == "Yes"
    assert data["campaign_log"][0]["action"] == "sent"
    assert data["emails"][0]["status"] == "sent"
    json.dumps(data)


def test_it_erases_a_person_and_keeps_only_a_hash_of_the_address():
    contact, record = a_mailed_contact()
    address = contact.email

    privacy.erase_person(contact)

    assert not Contact.objects.exists()
    assert not EmailAddress.objects.exists()
    record.refresh_from_db()
    assert (record.email, record.contact_id, record.email_address_id) == ("", None, None)
    item = EmailQueueItem.objects.get()
    assert (item.email, item.contact_id) == ("", None)
    kept = ConsentRecord.objects.get()
    assert (kept.email, kept.contact_id) == ("", None)
    assert SuppressedAddress.objects.get().address_hash == consent.address_hash(address)
    assert address not in json.dumps(list(CampaignLogRecord.objects.values()), default=str)


def test_it_keeps_a_shared_address_opted_out_for_the_other_record():
    shared = EmailAddressFactory(address="both@example.com")
    contact = ContactFactory(email_address=shared)
    lead = LeadFactory(email_address=shared)

    privacy.erase_person(contact)

    shared.refresh_from_db()
    assert Lead.objects.get() == lead and shared.opt_out is True


def test_it_never_imports_an_erased_address_again():
    contact = ContactFactory(email_address=EmailAddressFactory(address="gone@example.com"))
    privacy.erase_person(contact)

    done = run_file(b"email\nGONE@example.com\n")

    assert (done.created, done.rejected) == (0, 1)
    assert "asked to be erased" in rejected_rows(done)[1][1]


def test_it_offers_export_and_erase_in_the_admin(client):
    client.force_login(MarketerFactory())
    contact, record = a_mailed_contact()
    url = reverse("admin:crm_contact_changelist")
    picked = {"_selected_action": [contact.pk]}

    exported = client.post(url, {**picked, "action": "export_personal_data"})
    assert exported["Content-Type"].startswith("application/json")
    assert json.loads(exported.content)["fields"]["last_name"] == "Ruiz"

    page = client.get(reverse("admin:crm_contact_change", args=[contact.pk])).content.decode()
    assert "Consent records" in page and "Signup form" in page

    confirm = client.post(url, {**picked, "action": "erase_personal_data"})
    assert "This cannot be undone." in confirm.content.decode()
    assert Contact.objects.exists()
    client.post(url, {**picked, "action": "erase_personal_data", "confirm": "yes"})
    assert not Contact.objects.exists()
