"""Opting a person out of a list, however (the preference page, the admin, the API, the opt-out
page), tells the stream list.member_removed with opted_out, once: the person has left the list
for the "leaving the trigger list" exit and for webhooks."""

import pytest
from django.urls import reverse

from campaigns.authoring import tokens
from crm import events
from crm.models import Event
from targetlists.models import TargetListEntry
from tests.factories import (
    ContactFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TargetListEntryFactory,
    TargetListFactory,
)

pytestmark = pytest.mark.django_db


def removed() -> list[tuple]:
    found = Event.objects.filter(type=events.LIST_MEMBER_REMOVED)
    return sorted((e.person_id, e.data["list_id"], e.data.get("opted_out")) for e in found)


def preferences_page(contact, *lists):
    mass_email = MassEmailFactory()
    mass_email.target_lists.set(lists)
    item = SentQueueItemFactory(mass_email=mass_email, contact=contact)
    return item, reverse("tracking:opt_out", args=[tokens.make(tokens.OPT_OUT, item.pk)])


def test_the_preference_pages_list_opt_out_tells_of_the_list_left(client):
    ann = ContactFactory()
    news, offers = TargetListFactory(), TargetListFactory()
    kept = TargetListEntryFactory(target_list=news, contact=ann)
    TargetListEntryFactory(target_list=offers, contact=ann)
    _item, url = preferences_page(ann, news, offers)

    client.post(url, {"preferences": "1", "keep": [str(kept.pk)]})
    client.post(url, {"preferences": "1", "keep": [str(kept.pk)]})

    assert removed() == [(ann.pk, offers.pk, True)]


def test_the_admins_mark_opted_out_tells_of_the_entries_that_leave(admin_client):
    target_list = TargetListFactory()
    entries = [TargetListEntryFactory(target_list=target_list) for _ in range(2)]
    TargetListEntry.objects.filter(pk=entries[1].pk).update(opted_out=True)  # left already
    changelist = reverse("admin:targetlists_targetlistentry_changelist")

    admin_client.post(
        changelist,
        {"action": "mark_opted_out", "_selected_action": [entry.pk for entry in entries]},
    )

    assert removed() == [(entries[0].contact_id, target_list.pk, True)]
