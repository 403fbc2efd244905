import pytest
from django.contrib.auth import get_user_model

from crm.models import Account, Contact, EmailAddress, Event, Lead
from targetlists.adding import NotATargetError, add_to_target_list, remove_entries
from targetlists.models import TargetList, TargetListEntry
from tests.factories import (
    AccountFactory,
    ContactFactory,
    LeadFactory,
    TargetListEntryFactory,
    TargetListFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def make_contacts(count: int, last_name: str) -> None:
    """`count` contacts with their own addresses, inserted in two bulk statements."""
    addresses = EmailAddress.objects.bulk_create(
        EmailAddress(address=address, address_lower=address)
        for address in (f"{last_name.lower()}{n}@example.com" for n in range(count))
    )
    Contact.objects.bulk_create(
        Contact(first_name=f"C{n}", last_name=last_name, email_address=address)
        for n, address in enumerate(addresses)
    )


def test_it_adds_a_filtered_selection_in_a_constant_number_of_queries(
    django_assert_max_num_queries,
):
    make_contacts(2000, "Garcia")
    make_contacts(300, "Other")
    target_list = TargetListFactory()
    selection = Contact.objects.filter(last_name="Garcia", email_address__address__contains="@")

    with django_assert_max_num_queries(4):  # the entries, then their events: one insert each
        added = add_to_target_list(target_list, selection)

    assert added == 2000
    assert Event.objects.filter(type="list.member_added").count() == 2000
    entries = TargetListEntry.objects.filter(target_list=target_list)
    assert entries.count() == 2000
    assert set(entries.values_list("contact__last_name", flat=True)) == {"Garcia"}
    assert not entries.filter(opted_out=True).exists()
    assert entries.exclude(added_at=None).count() == 2000


def test_it_adds_nothing_the_second_time():
    ContactFactory.create_batch(5)
    target_list = TargetListFactory()

    assert add_to_target_list(target_list, Contact.objects.all()) == 5
    assert add_to_target_list(target_list, Contact.objects.all()) == 0
    assert TargetListEntry.objects.filter(target_list=target_list).count() == 5


def test_it_skips_only_records_already_in_that_list():
    contacts = ContactFactory.create_batch(3)
    target_list, other_list = TargetListFactory.create_batch(2)
    TargetListEntryFactory(target_list=target_list, contact=contacts[0], opted_out=True)
    TargetListEntryFactory(target_list=other_list, contact=contacts[1])

    assert add_to_target_list(target_list, Contact.objects.all()) == 2
    # The existing entry keeps its opt-out.
    assert TargetListEntry.objects.get(target_list=target_list, contact=contacts[0]).opted_out


def test_it_adds_each_kind_of_person_to_its_own_field():
    account, lead, user = AccountFactory(), LeadFactory(), UserFactory()
    target_list = TargetListFactory()

    add_to_target_list(target_list, Account.objects.all())
    add_to_target_list(target_list, Lead.objects.all())
    add_to_target_list(target_list, get_user_model().objects.filter(pk=user.pk))

    entries = TargetListEntry.objects.filter(target_list=target_list)
    assert {entry.target for entry in entries} == {account, lead, user}
    assert {entry.target_type for entry in entries} == {"account", "lead", "user"}


def test_it_adds_a_selection_that_joins_other_tables_once_per_record():
    acme = AccountFactory(name="Acme")
    ContactFactory.create_batch(3, account=acme)
    ContactFactory(account=AccountFactory(name="Other"))
    target_list = TargetListFactory()
    # A filter over a reverse relation yields each account once per contact before DISTINCT.
    selection = Account.objects.filter(contacts__last_name="Smith", name="Acme")

    assert add_to_target_list(target_list, selection) == 1


def test_it_refuses_a_model_that_cannot_be_a_target():
    with pytest.raises(NotATargetError):
        add_to_target_list(TargetListFactory(), TargetList.objects.all())


def test_it_removes_entries_in_one_statement(django_assert_num_queries):
    entries = TargetListEntryFactory.create_batch(4)
    chosen = TargetListEntry.objects.filter(pk__in=[entry.pk for entry in entries[:3]])

    # In a transaction: the events of the entries removed (one insert), then the delete.
    with django_assert_num_queries(4):
        removed = remove_entries(chosen)

    assert removed == 3
    assert Event.objects.filter(type="list.member_removed").count() == 3
    assert list(TargetListEntry.objects.all()) == [entries[3]]
