import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import CampaignLogRecord, CampaignStatus, CampaignType, EmailQueueItem
from campaigns.models import MassEmail as M
from campaigns.sending.queue import build_due_queues, build_queue
from crm.models import Contact, EmailAddress
from targetlists.models import TargetListEntry
from tests.factories import (
    AccountFactory,
    CampaignFactory,
    ContactFactory,
    EmailAddressFactory,
    LeadFactory,
    MassEmailFactory,
    TargetListEntryFactory,
    TargetListFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
Item = EmailQueueItem.Status


def mass_email_to(*target_lists, excluding=(), campaign_type=CampaignType.EMAIL, **fields):
    """A Pending mass email; the target lists are added one by one, so their order is kept."""
    mass_email = MassEmailFactory(
        campaign=CampaignFactory(type=campaign_type, status=CampaignStatus.ACTIVE),
        status=fields.pop("status", M.Status.PENDING),
        **fields,
    )
    for target_list in target_lists:
        mass_email.target_lists.add(target_list)
    mass_email.excluding_target_lists.set(excluding)
    return mass_email


def in_list(target_list, *targets, opted_out=False):
    for target in targets:
        entry = TargetListEntry(target_list=target_list, opted_out=opted_out)
        entry.set_target(target)
        entry.save()


def recipients(mass_email):
    """(target, email) of each non-test item, in queue order."""
    items = mass_email.queue_items.filter(is_test=False).order_by("id")
    return [(item.target, item.email) for item in items]


def address(text, **flags):
    return EmailAddressFactory(address=text, **flags)


def test_it_queues_every_record_of_the_target_lists_as_pending_items():
    contact, lead, account = ContactFactory(), LeadFactory(), AccountFactory()
    target_list = TargetListFactory()
    in_list(target_list, contact, lead, account)
    mass_email = mass_email_to(target_list)

    result = build_queue(mass_email)

    assert (result.queued, result.status, result.built) == (3, M.Status.IN_PROCESS, True)
    assert recipients(mass_email) == [
        (contact, contact.email),
        (lead, lead.email),
        (account, account.email),
    ]
    item = mass_email.queue_items.get(contact=contact)
    assert (item.status, item.attempts, item.is_test, item.email_address_id) == (
        Item.PENDING,
        0,
        False,
        contact.email_address_id,
    )
    mass_email.refresh_from_db()
    assert mass_email.status == M.Status.IN_PROCESS


def test_it_queues_a_person_in_two_lists_once():
    contact = ContactFactory()
    first, second = TargetListFactory(), TargetListFactory()
    in_list(first, contact)
    in_list(second, contact)
    mass_email = mass_email_to(first, second)

    assert build_queue(mass_email).queued == 1
    assert recipients(mass_email) == [(contact, contact.email)]


def test_it_queues_once_an_address_shared_by_records_whatever_its_case():
    contact = ContactFactory(email_address=address("Ann@Example.com"))
    lead = LeadFactory(email_address=EmailAddress.for_address("ann@EXAMPLE.com"))
    user = UserFactory(email="ANN@example.COM")
    target_list = TargetListFactory()
    in_list(target_list, contact, lead, user)
    mass_email = mass_email_to(target_list)

    assert build_queue(mass_email).queued == 1
    assert recipients(mass_email) == [(contact, "Ann@Example.com")]


def test_it_gives_the_address_to_the_record_of_the_first_list():
    shared = address("shared@example.com")
    contact, lead = ContactFactory(email_address=shared), LeadFactory(email_address=shared)
    # The second list and its entry are created first: list order, not ids, decides.
    second = TargetListFactory()
    in_list(second, contact)
    first = TargetListFactory()
    in_list(first, lead)
    other = ContactFactory()
    in_list(second, other)
    mass_email = mass_email_to(first, second)

    build_queue(mass_email)

    assert recipients(mass_email) == [(lead, "shared@example.com"), (other, other.email)]


def test_it_excludes_the_records_of_excluding_lists_and_their_addresses():
    shared = address("shared@example.com")
    contact, lead = ContactFactory(email_address=shared), LeadFactory(email_address=shared)
    excluded_contact, kept = ContactFactory(), ContactFactory()
    targets, excluding = TargetListFactory(), TargetListFactory()
    in_list(targets, contact, excluded_contact, kept)
    in_list(excluding, lead, excluded_contact)
    mass_email = mass_email_to(targets, excluding=[excluding])

    build_queue(mass_email)

    assert recipients(mass_email) == [(kept, kept.email)]


def test_it_excludes_entries_opted_out_of_the_excluding_list_too():
    contact, kept = ContactFactory(), ContactFactory()
    targets, excluding = TargetListFactory(), TargetListFactory()
    in_list(targets, contact, kept)
    in_list(excluding, contact, opted_out=True)
    mass_email = mass_email_to(targets, excluding=[excluding])

    build_queue(mass_email)

    assert recipients(mass_email) == [(kept, kept.email)]


def test_it_excludes_users_of_excluding_lists_by_their_email_text():
    contact, kept = ContactFactory(email_address=address("Boss@Example.com")), ContactFactory()
    targets, excluding = TargetListFactory(), TargetListFactory()
    in_list(targets, contact, kept)
    in_list(excluding, UserFactory(email="boss@example.com"))
    mass_email = mass_email_to(targets, excluding=[excluding])

    build_queue(mass_email)

    assert recipients(mass_email) == [(kept, kept.email)]


def test_it_skips_an_entry_opted_out_of_its_list_only():
    in_both, only_here = ContactFactory(), ContactFactory()
    first, second = TargetListFactory(), TargetListFactory()
    in_list(first, in_both, only_here, opted_out=True)
    in_list(second, in_both)
    mass_email = mass_email_to(first, second)

    build_queue(mass_email)

    assert recipients(mass_email) == [(in_both, in_both.email)]


def test_it_drops_opted_out_and_invalid_addresses():
    opted_out = ContactFactory(email_address=address("out@example.com", opt_out=True))
    invalid = LeadFactory(email_address=address("bounced@example.com", invalid=True))
    kept = AccountFactory()
    target_list = TargetListFactory()
    in_list(target_list, opted_out, invalid, kept)
    mass_email = mass_email_to(target_list)

    assert build_queue(mass_email).queued == 1
    assert recipients(mass_email) == [(kept, kept.email)]


def test_it_skips_records_without_an_address():
    no_address = ContactFactory(email_address=None)
    no_email_user = UserFactory(email="")
    kept = ContactFactory()
    target_list = TargetListFactory()
    in_list(target_list, no_address, no_email_user, kept)
    mass_email = mass_email_to(target_list)

    build_queue(mass_email)

    assert recipients(mass_email) == [(kept, kept.email)]


def test_it_ignores_opt_outs_for_an_informational_campaign_but_not_invalid_addresses():
    opted_out_address = ContactFactory(email_address=address("out@example.com", opt_out=True))
    opted_out_entry = ContactFactory()
    invalid = ContactFactory(email_address=address("bounced@example.com", invalid=True))
    target_list = TargetListFactory()
    in_list(target_list, opted_out_address, invalid)
    in_list(target_list, opted_out_entry, opted_out=True)
    mass_email = mass_email_to(target_list, campaign_type=CampaignType.INFORMATIONAL)

    build_queue(mass_email)

    assert recipients(mass_email) == [
        (opted_out_address, "out@example.com"),
        (opted_out_entry, opted_out_entry.email),
    ]


def test_it_queues_users_by_their_email_creating_their_address_row():
    user = UserFactory(email=" Uma@Example.com ")
    target_list = TargetListFactory()
    in_list(target_list, user)
    mass_email = mass_email_to(target_list)

    build_queue(mass_email)

    row = EmailAddress.objects.get(address_lower="uma@example.com")
    assert row.address == "Uma@Example.com"
    assert recipients(mass_email) == [(user, "Uma@Example.com")]
    assert mass_email.queue_items.get().email_address == row


def test_it_respects_the_flags_of_an_existing_row_for_a_users_email():
    address("uma@example.com", opt_out=True)
    target_list = TargetListFactory()
    in_list(target_list, UserFactory(email="Uma@example.com"))
    mass_email = mass_email_to(target_list)

    assert build_queue(mass_email).queued == 0
    assert EmailAddress.objects.filter(address_lower="uma@example.com").count() == 1


def test_it_queues_accounts():
    account = AccountFactory(email_address=address("Sales@Acme.example"))
    target_list = TargetListFactory()
    in_list(target_list, account)
    mass_email = mass_email_to(target_list)

    build_queue(mass_email)

    assert recipients(mass_email) == [(account, "Sales@Acme.example")]


def test_it_leaves_a_mass_email_of_an_inactive_campaign_pending():
    target_list = TargetListFactory()
    in_list(target_list, ContactFactory())
    mass_email = mass_email_to(target_list)
    mass_email.campaign.status = CampaignStatus.INACTIVE
    mass_email.campaign.save()

    result = build_queue(mass_email)

    assert (result.queued, result.built, result.status) == (0, False, M.Status.PENDING)
    assert "inactive" in result.skipped
    assert not mass_email.queue_items.exists()
    mass_email.refresh_from_db()
    assert mass_email.status == M.Status.PENDING


def test_it_completes_a_mass_email_with_nobody_left():
    target_list = TargetListFactory()
    in_list(target_list, ContactFactory(email_address=address("out@example.com", opt_out=True)))
    mass_email = mass_email_to(target_list)

    result = build_queue(mass_email)

    assert (result.queued, result.status) == (0, M.Status.COMPLETE)
    mass_email.refresh_from_db()
    assert mass_email.status == M.Status.COMPLETE


def test_it_rebuilds_pending_and_failed_items_and_keeps_sent_ones():
    sent, failed, pending, sending = (ContactFactory() for _ in range(4))
    target_list = TargetListFactory()
    in_list(target_list, sent, failed, pending, sending)
    mass_email = mass_email_to(target_list)
    build_queue(mass_email)
    items = {item.contact: item for item in mass_email.queue_items.all()}
    for contact, status in ((sent, Item.SENT), (failed, Item.FAILED), (sending, Item.SENDING)):
        EmailQueueItem.objects.filter(pk=items[contact].pk).update(status=status)
    bounce = CampaignLogRecord.objects.create(
        campaign=mass_email.campaign, action="bounced", queue_item=items[failed], contact=failed
    )
    newcomer = ContactFactory()
    in_list(target_list, newcomer)
    mass_email.status = M.Status.PENDING
    mass_email.save()

    result = build_queue(mass_email)

    assert result.queued == 3
    statuses = {item.contact: (item.pk, item.status) for item in mass_email.queue_items.all()}
    assert statuses[sent] == (items[sent].pk, Item.SENT)
    assert statuses[sending] == (items[sending].pk, Item.SENDING)
    assert statuses[failed][1] == statuses[pending][1] == statuses[newcomer][1] == Item.PENDING
    assert statuses[failed][0] != items[failed].pk
    assert mass_email.queue_items.count() == 5
    bounce.refresh_from_db()
    assert bounce.queue_item is None


def test_it_keeps_a_mass_email_with_items_still_sending_in_process():
    contact = ContactFactory()
    target_list = TargetListFactory()
    in_list(target_list, contact)
    mass_email = mass_email_to(target_list)
    build_queue(mass_email)
    mass_email.queue_items.update(status=Item.SENDING)
    M.objects.filter(pk=mass_email.pk).update(status=M.Status.PENDING)

    result = build_queue(mass_email)

    assert (result.queued, result.status) == (0, M.Status.IN_PROCESS)


def test_it_does_not_queue_again_an_address_sent_to_another_record():
    shared = address("shared@example.com")
    contact, lead = ContactFactory(email_address=shared), LeadFactory(email_address=shared)
    target_list = TargetListFactory()
    in_list(target_list, contact)
    mass_email = mass_email_to(target_list)
    build_queue(mass_email)
    mass_email.queue_items.update(status=Item.SENT)
    TargetListEntry.objects.filter(contact=contact).delete()
    in_list(target_list, lead)
    M.objects.filter(pk=mass_email.pk).update(status=M.Status.PENDING)

    result = build_queue(mass_email)

    assert (result.queued, result.status) == (0, M.Status.COMPLETE)
    assert recipients(mass_email) == [(contact, "shared@example.com")]


def test_it_keeps_test_items_and_still_queues_their_address():
    contact = ContactFactory()
    target_list = TargetListFactory()
    in_list(target_list, contact)
    mass_email = mass_email_to(target_list)
    test_item = EmailQueueItem.objects.create(
        mass_email=mass_email,
        contact=contact,
        email_address=contact.email_address,
        email=contact.email,
        is_test=True,
        status=Item.FAILED,
    )

    assert build_queue(mass_email).queued == 1
    assert EmailQueueItem.objects.filter(pk=test_item.pk).exists()


def test_it_does_not_build_twice_from_a_stale_copy():
    target_list = TargetListFactory()
    in_list(target_list, ContactFactory())
    mass_email = mass_email_to(target_list)
    stale = M.objects.get(pk=mass_email.pk)
    build_queue(mass_email)

    result = build_queue(stale)

    assert (result.built, result.status) == (False, M.Status.IN_PROCESS)
    assert stale.status == M.Status.IN_PROCESS
    assert mass_email.queue_items.count() == 1


def test_it_builds_due_mass_emails_only():
    now = timezone.now()
    target_list = TargetListFactory()
    in_list(target_list, ContactFactory())
    unscheduled = mass_email_to(target_list)
    due = mass_email_to(target_list, start_at=now - datetime.timedelta(minutes=1))
    on_the_minute = mass_email_to(target_list, start_at=now)
    future = mass_email_to(target_list, start_at=now + datetime.timedelta(minutes=1))
    others = [
        mass_email_to(target_list, status=status)
        for status in (M.Status.DRAFT, M.Status.PAUSED, M.Status.CANCELED, M.Status.COMPLETE)
    ]

    results = build_due_queues(now=now)

    built = [unscheduled.pk, due.pk, on_the_minute.pk]
    assert [(r.mass_email_id, r.queued) for r in results] == [(pk, 1) for pk in built]
    assert set(M.objects.filter(queue_items__isnull=False).values_list("pk", flat=True)) == set(
        built
    )
    for mass_email in [future, *others]:
        status = mass_email.status
        mass_email.refresh_from_db()
        assert mass_email.status == status


def test_it_skips_a_draft_mass_email_given_directly():
    target_list = TargetListFactory()
    in_list(target_list, ContactFactory())
    mass_email = mass_email_to(target_list, status=M.Status.DRAFT)

    result = build_queue(mass_email)

    assert (result.built, result.queued, result.status) == (False, 0, M.Status.DRAFT)
    assert not mass_email.queue_items.exists()


def mass_email_with_recipients(size):
    """A mass email to `size` contacts and a user, with an excluding list, made in bulk."""
    addresses = EmailAddress.objects.bulk_create(
        EmailAddress(
            address=f"bulk{size}-{n}@example.com", address_lower=f"bulk{size}-{n}@example.com"
        )
        for n in range(size)
    )
    contacts = Contact.objects.bulk_create(
        Contact(last_name=f"Bulk {n}", email_address=row) for n, row in enumerate(addresses)
    )
    target_list = TargetListFactory()
    TargetListEntry.objects.bulk_create(
        TargetListEntry(target_list=target_list, contact=contact) for contact in contacts
    )
    in_list(target_list, UserFactory())
    return mass_email_to(target_list, excluding=[TargetListEntryFactory().target_list])


def test_it_uses_the_same_few_queries_whatever_the_number_of_recipients(
    django_assert_max_num_queries,
):
    small, large = mass_email_with_recipients(10), mass_email_with_recipients(500)
    with CaptureQueriesContext(connection) as small_build:
        assert build_queue(small).queued == 11

    with django_assert_max_num_queries(len(small_build.captured_queries)):
        assert build_queue(large).queued == 501
    assert len(small_build.captured_queries) <= 15
