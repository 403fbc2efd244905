import pytest
from django.contrib.auth.models import Permission
from django.http import QueryDict
from django.test import Client
from django.urls import reverse

from campaigns.models import CampaignLogRecord
from targetlists.models import TargetList
from tests.factories import (
    CampaignFactory,
    CampaignLogRecordFactory,
    ContactFactory,
    MarketerFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TrackingUrlFactory,
    UserFactory,
)
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:campaigns_campaignlogrecord_changelist"
CREATE_LIST = "admin:campaigns_campaignlogrecord_create_target_list"


@pytest.fixture
def superuser_client():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def log_viewer_client(client):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_campaignlogrecord"),
        Permission.objects.get(codename="add_targetlist"),
    )
    client.force_login(user)
    return client


def record(campaign, action="sent", **item_fields):
    item = SentQueueItemFactory(mass_email=MassEmailFactory(campaign=campaign), **item_fields)
    return CampaignLogRecordFactory(queue_item=item, action=action)


def test_it_lists_the_log_with_a_link_to_the_person(log_viewer_client):
    entry = record(CampaignFactory(), "opened")

    response = log_viewer_client.get(reverse(CHANGELIST))

    body = response.content.decode()
    assert response.status_code == 200
    assert entry.email in body
    assert reverse("admin:crm_contact_change", args=[entry.contact_id]) in body


def test_it_filters_by_action_and_searches_by_address(log_viewer_client):
    campaign = CampaignFactory()
    opened = record(campaign, "opened")
    sent = record(campaign, "sent")

    by_action = log_viewer_client.get(reverse(CHANGELIST), {"action__exact": "opened"})
    by_address = log_viewer_client.get(reverse(CHANGELIST), {"q": sent.email})

    assert list(by_action.context["cl"].result_list) == [opened]
    assert list(by_address.context["cl"].result_list) == [sent]


def test_it_escapes_person_names(log_viewer_client):
    contact = ContactFactory(first_name="<script>alert(1)</script>", last_name="<i>x</i>")
    record(CampaignFactory(), "clicked", contact=contact, email_address=contact.email_address)

    body = log_viewer_client.get(reverse(CHANGELIST)).content.decode()

    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_it_is_read_only_and_only_superusers_delete(log_viewer_client, superuser_client):
    entry = record(CampaignFactory())
    change = reverse("admin:campaigns_campaignlogrecord_change", args=[entry.pk])
    delete = reverse("admin:campaigns_campaignlogrecord_delete", args=[entry.pk])

    assert (
        log_viewer_client.get(reverse("admin:campaigns_campaignlogrecord_add")).status_code == 403
    )
    assert log_viewer_client.post(change, {"action": "opened"}).status_code == 403
    assert log_viewer_client.post(delete, {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.action == "sent"

    superuser_client.post(delete, {"post": "yes"})
    assert not CampaignLogRecord.objects.filter(pk=entry.pk).exists()


def test_it_offers_a_target_list_from_the_filtered_campaign(log_viewer_client):
    campaign = CampaignFactory()

    response = log_viewer_client.get(
        reverse(CHANGELIST), {"campaign__id__exact": campaign.pk, "action__exact": "clicked"}
    )

    url = response.context["create_list_url"]
    assert url.startswith(reverse(CREATE_LIST))
    assert QueryDict(url.split("?", 1)[1]) == QueryDict(
        f"campaign__id__exact={campaign.pk}&action__exact=clicked&campaign={campaign.pk}"
    )


def test_it_creates_a_target_list_from_the_log(log_viewer_client):
    campaign = CampaignFactory()
    keen = record(campaign, "clicked")
    gone = record(campaign, "clicked")
    CampaignLogRecordFactory(queue_item=gone.queue_item, action="opted_out")

    page = log_viewer_client.get(reverse(CREATE_LIST), {"campaign": campaign.pk})
    response = log_viewer_client.post(
        reverse(CREATE_LIST),
        {
            "campaign": campaign.pk,
            "name": "Clicked, still subscribed",
            "include_actions": ["clicked"],
            "exclude_actions": ["opted_out"],
        },
    )

    assert page.status_code == 200
    assert page.context["form"].initial == {"campaign": str(campaign.pk)}
    assert response.status_code == 302
    target_list = TargetList.objects.get(name="Clicked, still subscribed")
    assert [entry.contact for entry in target_list.entries.all()] == [keen.contact]


def test_it_refuses_an_action_both_included_and_excluded(log_viewer_client):
    campaign = CampaignFactory()

    response = log_viewer_client.post(
        reverse(CREATE_LIST),
        {
            "campaign": campaign.pk,
            "name": "Odd",
            "include_actions": ["clicked"],
            "exclude_actions": ["clicked"],
        },
    )

    assert response.status_code == 200
    assert "cannot be both included and excluded" in response.content.decode()
    assert not TargetList.objects.exists()


def test_it_refuses_the_page_to_users_without_the_log(client):
    client.force_login(MarketerFactory())

    assert client.get(reverse(CREATE_LIST)).status_code == 403


def hit(entry, kind, machine, **fields):
    return TrackingHit.objects.create(
        queue_item=entry.queue_item,
        campaign=entry.campaign,
        kind=kind,
        is_machine=machine,
        **fields,
    )


def clicked(campaign, link):
    item = SentQueueItemFactory(mass_email=MassEmailFactory(campaign=campaign))
    return CampaignLogRecordFactory(queue_item=item, action="clicked", tracking_url=link)


def test_it_shows_whether_a_person_or_a_machine_opened(log_viewer_client):
    campaign = CampaignFactory()
    person, proxy, unseen = (record(campaign, "opened") for _ in range(3))
    hit(person, "open", machine=False)
    hit(proxy, "open", machine=True)

    response = log_viewer_client.get(reverse(CHANGELIST), {"action__exact": "opened"})

    admin = response.context["cl"].model_admin
    judged = {r.pk: admin.judged(r) for r in response.context["cl"].result_list}
    assert judged == {person.pk: "person", proxy.pk: "machine", unseen.pk: "no hit recorded"}


def test_the_new_list_keeps_the_log_filters_and_leaves_machines_out(log_viewer_client):
    campaign = CampaignFactory()
    link, other = TrackingUrlFactory(campaign=campaign), TrackingUrlFactory(campaign=campaign)
    keen, scanned = clicked(campaign, link), clicked(campaign, link)
    elsewhere = clicked(campaign, other)
    hit(keen, "click", machine=False, tracking_url=link)
    hit(scanned, "click", machine=True, tracking_url=link)
    hit(elsewhere, "click", machine=False, tracking_url=other)
    filters = {"campaign__id__exact": campaign.pk, "tracking_url__id__exact": link.pk}
    listing = log_viewer_client.get(reverse(CHANGELIST), {**filters, "action__exact": "clicked"})
    form_url = listing.context["create_list_url"]

    page = log_viewer_client.get(form_url)
    initial = page.context["form"].initial
    data = {**initial, "name": "Clicked the offer", "leave_out_machines": "on"}
    response = log_viewer_client.post(form_url, data)

    assert (
        initial["include_actions"] == ["clicked"]
        and "tracking_url__id__exact" in initial["filters"]
    )
    assert 'id="kept-filters"' in page.content.decode()
    assert response.status_code == 302
    target_list = TargetList.objects.get(name="Clicked the offer")
    assert [entry.contact for entry in target_list.entries.all()] == [keen.contact]
    data = {**initial, "name": "With scanners"}
    log_viewer_client.post(form_url, data)
    with_machines = TargetList.objects.get(name="With scanners").entries.all()
    assert {entry.contact for entry in with_machines} == {keen.contact, scanned.contact}
