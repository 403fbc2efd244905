"""The A/B split: decided once in the queue's INSERT … SELECT, even, and the same on rebuild."""

from collections import Counter

import pytest

from campaigns.models import CampaignStatus, EmailQueueItem, MassEmail, MassEmailVariant
from campaigns.sending.queue import build_queue
from crm.models import Contact, EmailAddress
from targetlists.models import TargetListEntry
from tests.factories import CampaignFactory, MassEmailFactory, TargetListFactory

pytestmark = pytest.mark.django_db
Item = EmailQueueItem.Status


def bulk_list(size: int, prefix: str):
    addresses = EmailAddress.objects.bulk_create(
        EmailAddress(address=f"{prefix}{n}@example.com", address_lower=f"{prefix}{n}@example.com")
        for n in range(size)
    )
    contacts = Contact.objects.bulk_create(
        Contact(last_name=f"P {n}", email_address=row) for n, row in enumerate(addresses)
    )
    target_list = TargetListFactory()
    TargetListEntry.objects.bulk_create(
        TargetListEntry(target_list=target_list, contact=contact) for contact in contacts
    )
    return target_list


def ab_mass_email(target_list, variants: int, share: int) -> MassEmail:
    mass_email = MassEmailFactory(
        campaign=CampaignFactory(status=CampaignStatus.ACTIVE),
        status=MassEmail.Status.PENDING,
        test_share=share,
    )
    mass_email.target_lists.add(target_list)
    for letter in "ABCDE"[:variants]:
        MassEmailVariant.objects.create(mass_email=mass_email, letter=letter, subject=letter)
    return mass_email


def split(mass_email) -> dict[int, tuple]:
    items = mass_email.queue_items.filter(is_test=False)
    return {
        address: (variant, in_test, status)
        for address, variant, in_test, status in items.values_list(
            "email_address_id", "variant__letter", "in_test", "status"
        )
    }


@pytest.mark.parametrize(("variants", "share"), [(2, 20), (5, 50), (3, 100)])
def test_the_shares_hold_within_a_percent_on_10000_recipients(variants, share):
    mass_email = ab_mass_email(bulk_list(10_000, f"s{variants}-"), variants, share)

    assert build_queue(mass_email).queued == 10_000

    found = split(mass_email)
    tests = Counter(letter for letter, in_test, _status in found.values() if in_test)
    assert abs(sum(tests.values()) - 100 * share) <= 100
    for letter in "ABCDE"[:variants]:
        assert abs(tests[letter] - 100 * share / variants) <= 100, tests
    held = [row for row in found.values() if not row[1]]
    assert all(row == (None, False, Item.HELD) for row in held)
    assert all(row[2] == Item.PENDING and row[0] for row in found.values() if row[1])
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.IN_PROCESS
    assert mass_email.test_state == MassEmail.TestState.TESTING


def test_the_split_is_decided_once_and_the_same_when_the_queue_is_rebuilt():
    target_list = bulk_list(2_000, "d-")
    mass_email = ab_mass_email(target_list, 2, 30)
    build_queue(mass_email)
    first = split(mass_email)
    MassEmail.objects.filter(pk=mass_email.pk).update(status=MassEmail.Status.PENDING)

    build_queue(mass_email)

    assert split(mass_email) == first
    other = ab_mass_email(target_list, 2, 30)
    build_queue(other)
    mine = {a: row[0] for a, row in first.items()}
    theirs = {a: row[0] for a, row in split(other).items()}
    assert mine != theirs  # another test draws another split


def test_one_variant_or_none_is_no_test():
    mass_email = ab_mass_email(bulk_list(50, "n-"), 1, 20)
    build_queue(mass_email)
    assert set(split(mass_email).values()) == {(None, False, Item.PENDING)}
    mass_email.refresh_from_db()
    assert mass_email.test_state == ""
