import pytest
from django.db import IntegrityError, transaction

from crm.models import EmailAddress
from targetlists.models import TargetListEntry
from tests.factories import (
    AccountFactory,
    ContactFactory,
    LeadFactory,
    TargetListEntryFactory,
    TargetListFactory,
)

pytestmark = pytest.mark.django_db


def test_it_keeps_one_address_row_whatever_the_case():
    first = EmailAddress.for_address(" Ann@Example.com ")

    assert EmailAddress.for_address("ann@EXAMPLE.com") == first
    assert first.address == "Ann@Example.com"
    assert first.address_lower == "ann@example.com"
    with pytest.raises(IntegrityError), transaction.atomic():
        EmailAddress.objects.create(address="ANN@example.COM")


def test_it_keeps_one_row_for_an_international_address_whatever_the_case():
    # SQL's LOWER() leaves É alone on SQLite: the lower-cased copy is Python's, on both.
    first = EmailAddress.for_address("JOSÉ@EXÄMPLE.COM")

    assert EmailAddress.for_address("josé@exämple.com") == first
    assert first.address_lower == "josé@exämple.com"


def test_it_shares_flags_between_people_with_the_same_address():
    address = EmailAddress.for_address("shared@example.com")
    contact = ContactFactory(email_address=address)
    lead = LeadFactory(email_address=EmailAddress.for_address("SHARED@example.com"))

    EmailAddress.objects.filter(pk=address.pk).update(opt_out=True)

    contact.refresh_from_db()
    lead.refresh_from_db()
    assert contact.email_address.opt_out and lead.email_address.opt_out


def test_it_keeps_one_entry_per_person_per_list():
    entry = TargetListEntryFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        TargetListEntry.objects.create(target_list=entry.target_list, contact=entry.contact)
    # The same person in another list is fine.
    TargetListEntry.objects.create(target_list=TargetListFactory(), contact=entry.contact)


def test_it_allows_different_people_of_each_type_in_one_list():
    target_list = TargetListFactory()
    TargetListEntry.objects.create(target_list=target_list, contact=ContactFactory())
    TargetListEntry.objects.create(target_list=target_list, contact=ContactFactory())
    TargetListEntry.objects.create(target_list=target_list, account=AccountFactory())

    assert target_list.entries.count() == 3


def test_it_refuses_an_entry_without_a_person():
    with pytest.raises(IntegrityError), transaction.atomic():
        TargetListEntry.objects.create(target_list=TargetListFactory())


def test_it_refuses_an_entry_with_two_people():
    with pytest.raises(IntegrityError), transaction.atomic():
        TargetListEntry.objects.create(
            target_list=TargetListFactory(), contact=ContactFactory(), lead=LeadFactory()
        )


def test_it_names_the_target_of_an_entry():
    lead = LeadFactory()
    entry = TargetListEntry(target_list=TargetListFactory())
    entry.set_target(lead)

    assert (entry.target, entry.target_type) == (lead, "lead")
    assert entry.contact is None


def test_it_leaves_people_when_their_address_row_goes():
    contact = ContactFactory()

    contact.email_address.delete()

    contact.refresh_from_db()
    assert contact.email_address is None
    assert contact.email == ""
