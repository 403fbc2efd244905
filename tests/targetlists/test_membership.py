"""Bulk membership by ids and addresses: each item's result, the opt-out rules, consent."""

import pytest

from crm.models import ConsentRecord, Contact
from targetlists import membership
from targetlists.membership import Result, Selection
from targetlists.models import TargetListEntry
from tests.factories import (
    ContactFactory,
    EmailAddressFactory,
    LeadFactory,
    TargetListEntryFactory,
    TargetListFactory,
)

pytestmark = pytest.mark.django_db


def results(items) -> list[tuple]:
    return [(item.result, item.ids) for item in items]


def test_it_adds_by_address_whatever_the_case_and_answers_each_item():
    target_list = TargetListFactory()
    ann = ContactFactory(email_address=EmailAddressFactory(address="Ann@Example.com"))
    member = TargetListEntryFactory(target_list=target_list).contact
    items = [
        " ann@EXAMPLE.com ",
        member.email,
        "nobody@example.com",
        "not an address",
        7,
        "ANN@example.com",
    ]

    answered = membership.add(target_list, Selection("contact", "emails", items))

    assert results(answered) == [
        (Result.ADDED, [ann.pk]),
        (Result.ALREADY_MEMBER, [member.pk]),
        (Result.NOT_FOUND, []),
        (Result.INVALID, []),
        (Result.INVALID, []),
        (Result.DUPLICATE, []),
    ]
    assert "no @" in answered[3].error
    assert set(target_list.entries.values_list("contact_id", flat=True)) == {ann.pk, member.pk}


def test_an_address_finds_every_record_of_the_kind_with_it():
    target_list = TargetListFactory()
    shared = EmailAddressFactory()
    first, second = ContactFactory(email_address=shared), ContactFactory(email_address=shared)
    LeadFactory(email_address=shared)

    (answer,) = membership.add(target_list, Selection("contact", "emails", [shared.address]))

    assert answer.ids == sorted([first.pk, second.pk])
    assert TargetListEntry.objects.filter(target_list=target_list).count() == 2


def test_adding_by_id_never_lifts_an_opt_out_without_consent():
    target_list = TargetListFactory()
    entry = TargetListEntryFactory(target_list=target_list, opted_out=True)

    (kept,) = membership.add(target_list, Selection("contact", "ids", [entry.contact_id]))
    with pytest.raises(membership.ConsentRequired):
        membership.add(
            target_list, Selection("contact", "ids", [entry.contact_id]), resubscribe=True
        )

    entry.refresh_from_db()
    assert kept.result == Result.OPTED_OUT
    assert entry.opted_out


def test_resubscribing_with_consent_lifts_the_opt_out_and_records_it():
    target_list = TargetListFactory(name="Newsletter")
    entry = TargetListEntryFactory(target_list=target_list, opted_out=True)

    (answer,) = membership.add(
        target_list,
        Selection("contact", "ids", [entry.contact_id]),
        resubscribe=True,
        consent_text="Ticked 'send me news' on the shop's checkout, 2026-12-01",
    )

    entry.refresh_from_db()
    record = ConsentRecord.objects.get()
    assert answer.result == Result.RESUBSCRIBED
    assert not entry.opted_out
    assert (record.action, record.method, record.contact_id) == ("opt_in", "api", entry.contact_id)
    assert record.text.startswith("Ticked") and record.email == entry.contact.email


def test_removing_keeps_opted_out_entries():
    target_list = TargetListFactory()
    member = TargetListEntryFactory(target_list=target_list)
    opted_out = TargetListEntryFactory(target_list=target_list, opted_out=True)
    outsider = ContactFactory()
    ids = [member.contact_id, opted_out.contact_id, outsider.pk, 999_999_999]

    answered = membership.remove(target_list, Selection("contact", "ids", ids))

    assert [item.result for item in answered] == [
        Result.REMOVED,
        Result.OPTED_OUT,
        Result.NOT_MEMBER,
        Result.NOT_FOUND,
    ]
    assert list(target_list.entries.values_list("contact_id", flat=True)) == [opted_out.contact_id]


def test_opting_out_adds_an_opted_out_entry_for_someone_not_in_the_list():
    target_list = TargetListFactory()
    member = TargetListEntryFactory(target_list=target_list)
    outsider = ContactFactory()
    ids = [member.contact_id, outsider.pk, member.contact_id]

    answered = membership.opt_out(target_list, Selection("contact", "ids", ids))
    again = membership.opt_out(target_list, Selection("contact", "ids", ids[:2]))

    assert [item.result for item in answered] == [
        Result.OPTED_OUT,
        Result.OPTED_OUT,
        Result.DUPLICATE,
    ]
    assert [item.result for item in again] == [Result.ALREADY_OPTED_OUT] * 2
    assert set(target_list.entries.filter(opted_out=True).values_list("contact_id", flat=True)) == {
        member.contact_id,
        outsider.pk,
    }
    assert ConsentRecord.objects.filter(action="opt_out", method="api").count() == 2
    # Added again later, they stay opted out.
    readded = membership.add(target_list, Selection("contact", "ids", [outsider.pk]))
    assert readded[0].result == Result.OPTED_OUT


def test_leads_and_accounts_are_members_by_their_own_ids():
    target_list = TargetListFactory()
    lead = LeadFactory()
    Contact.objects.filter(pk=lead.pk).delete()  # the id names no contact

    (answer,) = membership.add(target_list, Selection("lead", "ids", [lead.pk]))
    (as_contact,) = membership.add(target_list, Selection("contact", "ids", [lead.pk]))

    entry = TargetListEntry.objects.get(target_list=target_list)
    assert answer.result == Result.ADDED
    assert as_contact.result == Result.NOT_FOUND
    assert (entry.lead_id, entry.contact_id) == (lead.pk, None)


def test_ids_past_64_bits_and_non_numbers_are_invalid_items():
    target_list = TargetListFactory()

    answered = membership.add(
        target_list, Selection("contact", "ids", [2**64, -1, 0, "12", True, None, 1.5])
    )

    assert {item.result for item in answered} == {Result.INVALID}
