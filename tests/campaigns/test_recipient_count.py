"""count_recipients tells, before the queue is built, what build_queue will do: checked here
against build_queue itself on the same lists."""

import pytest

from campaigns.models import CampaignType
from campaigns.sending.queue import build_queue, count_recipients
from tests.campaigns.test_queue import address, in_list, mass_email_to
from tests.factories import ContactFactory, LeadFactory, TargetListFactory, UserFactory

pytestmark = pytest.mark.django_db


def lists_with_every_rule():
    readers, more, excluded = TargetListFactory(), TargetListFactory(), TargetListFactory()
    ann = ContactFactory(email_address=address("ann@example.com"))
    in_list(readers, ann, ContactFactory(email_address=address("bob@example.com")))
    in_list(readers, ContactFactory(email_address=address("left@example.com")), opted_out=True)
    in_list(readers, ContactFactory(email_address=address("out@example.com", opt_out=True)))
    in_list(readers, ContactFactory(email_address=address("bad@example.com", invalid=True)))
    in_list(readers, ContactFactory(email_address=None), UserFactory(email="new@example.com"))
    in_list(more, LeadFactory(email_address=address("ANN@example.com")))
    gone = ContactFactory(email_address=address("gone@example.com"))
    in_list(readers, gone)
    in_list(excluded, gone)
    return readers, more, excluded


def test_it_counts_who_receives_and_who_is_left_out_by_rule():
    readers, more, excluded = lists_with_every_rule()
    mass_email = mass_email_to(readers, more, excluding=[excluded])

    counted = count_recipients(mass_email)

    assert counted.receives == 3  # ann, bob and the user's new address
    assert (counted.list_opted_out, counted.opted_out, counted.invalid) == (1, 1, 1)
    assert (counted.no_address, counted.duplicate, counted.excluded) == (1, 1, 1)
    assert counted.left_out == 6
    assert build_queue(mass_email).queued == counted.receives


def test_it_ignores_opt_outs_for_an_informational_campaign():
    readers, more, excluded = lists_with_every_rule()
    mass_email = mass_email_to(readers, campaign_type=CampaignType.INFORMATIONAL)

    counted = count_recipients(mass_email)

    assert (counted.list_opted_out, counted.opted_out, counted.invalid) == (0, 0, 1)
    assert build_queue(mass_email).queued == counted.receives == 6


def test_it_counts_addresses_already_sent_by_an_earlier_build():
    readers, more, excluded = lists_with_every_rule()
    mass_email = mass_email_to(readers)
    queued = build_queue(mass_email).queued
    mass_email.queue_items.update(status="sent")
    mass_email.status = "pending"
    mass_email.save()

    counted = count_recipients(mass_email)

    assert (counted.receives, counted.already_sent) == (0, queued) == (0, 4)
