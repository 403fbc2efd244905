import datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from campaigns.models import Campaign, CampaignType, MassEmail, TrackingUrl
from tests.factories import (
    CampaignFactory,
    MarketerFactory,
    MassEmailFactory,
    TargetListFactory,
    TrackingUrlFactory,
)

pytestmark = pytest.mark.django_db


def change_url(campaign: Campaign) -> str:
    return reverse("admin:campaigns_campaign_change", args=[campaign.pk])


def form_data(response) -> dict:
    """What the browser would post back from a change page left as it is."""
    data = {}
    form = response.context["adminform"].form
    forms = [form]
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update(
            {management.add_prefix(name): management[name].value() for name in management.fields}
        )
        forms += inline.formset.forms
    for each in forms:
        for name in each.fields:
            value = each[name].value()
            if value not in (None, False):
                data[each.add_prefix(name)] = value
    return data


def test_it_creates_a_campaign_with_target_and_excluding_lists(marketer_client):
    readers, bounced = TargetListFactory(), TargetListFactory()

    response = marketer_client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name": "Spring launch",
            "status": "planning",
            "type": CampaignType.NEWSLETTER,
            "start_date": "2026-03-01",
            "end_date": "2026-03-31",
            "target_lists": [readers.pk],
            "excluding_target_lists": [bounced.pk],
        },
    )

    assert response.status_code == 302
    campaign = Campaign.objects.get(name="Spring launch")
    assert list(campaign.target_lists.all()) == [readers]
    assert list(campaign.excluding_target_lists.all()) == [bounced]


def test_it_shows_the_end_date_rule_as_a_form_error(marketer_client):
    response = marketer_client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name": "Backwards",
            "status": "planning",
            "type": CampaignType.EMAIL,
            "start_date": "2026-03-31",
            "end_date": "2026-03-01",
        },
    )

    errors = response.context["adminform"].form.errors
    assert errors["end_date"] == ["The end date cannot be before the start date."]
    assert not Campaign.objects.exists()


def test_it_shows_tracking_urls_with_the_code_to_paste(marketer_client):
    link = TrackingUrlFactory(name="Demo")

    response = marketer_client.get(change_url(link.campaign))

    assert response.status_code == 200
    assert f"{{trackingUrl:{link.pk}}}" in response.content.decode()


def test_it_adds_a_tracking_url_from_the_campaign_page(marketer_client):
    campaign = CampaignFactory(type=CampaignType.EMAIL)
    data = form_data(marketer_client.get(change_url(campaign)))
    data.update(
        {
            "tracking_urls-TOTAL_FORMS": "1",
            "tracking_urls-0-name": "Pricing",
            "tracking_urls-0-url": "https://example.com/pricing",
            "tracking_urls-0-action": TrackingUrl.Action.REDIRECT,
        }
    )

    response = marketer_client.post(change_url(campaign), data)

    assert response.status_code == 302
    assert campaign.tracking_urls.get().name == "Pricing"


@pytest.mark.parametrize(
    "campaign_type", [CampaignType.INFORMATIONAL, CampaignType.WEB, CampaignType.RADIO]
)
def test_it_offers_no_tracking_urls_to_other_types(marketer_client, campaign_type):
    campaign = CampaignFactory(type=campaign_type)

    response = marketer_client.get(change_url(campaign))

    prefixes = [inline.formset.prefix for inline in response.context["inline_admin_formsets"]]
    assert "tracking_urls" not in prefixes


def test_it_refuses_a_type_without_tracking_urls_while_it_has_some(marketer_client):
    link = TrackingUrlFactory()
    data = form_data(marketer_client.get(change_url(link.campaign)))
    data["type"] = CampaignType.WEB

    response = marketer_client.post(change_url(link.campaign), data)

    assert response.status_code == 200
    assert "delete them first" in str(response.context["adminform"].form.errors["type"])
    link.campaign.refresh_from_db()
    assert link.campaign.type == CampaignType.EMAIL


def test_it_locks_the_type_once_a_mass_email_exists(marketer_client):
    mass_email = MassEmailFactory(campaign__type=CampaignType.NEWSLETTER)
    campaign = mass_email.campaign
    data = form_data(marketer_client.get(change_url(campaign)))
    data["type"] = CampaignType.EMAIL

    response = marketer_client.post(change_url(campaign), data)

    errors = response.context["adminform"].form.errors
    assert errors["type"] == ["The type cannot change once the campaign has a mass email."]
    campaign.refresh_from_db()
    assert campaign.type == CampaignType.NEWSLETTER


def test_it_saves_a_campaign_page_that_lists_mass_emails(marketer_client):
    mass_email = MassEmailFactory(name="April issue", status=MassEmail.Status.PENDING)
    campaign = mass_email.campaign
    page = marketer_client.get(change_url(campaign))
    data = form_data(page)
    data["name"] = "Renamed"

    response = marketer_client.post(change_url(campaign), data)

    assert "April issue" in page.content.decode()
    assert "Pending" in page.content.decode()
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "Renamed"
    assert MassEmail.objects.get().status == MassEmail.Status.PENDING


def test_it_links_to_create_a_mass_email_for_email_campaigns_only(marketer_client):
    email = CampaignFactory(type=CampaignType.EMAIL)
    radio = CampaignFactory(type=CampaignType.RADIO)
    add_url = reverse("admin:campaigns_massemail_add")

    email_page = marketer_client.get(change_url(email)).content.decode()
    radio_page = marketer_client.get(change_url(radio)).content.decode()

    assert f"{add_url}?campaign={email.pk}" in email_page
    assert 'id="create-mass-email"' not in radio_page


def test_it_includes_the_campaign_statistics(marketer_client):
    campaign = CampaignFactory()

    response = marketer_client.get(change_url(campaign))

    assert "campaigns/_statistics.html" in [t.name for t in response.templates]
    assert "statistics" in response.context


def test_it_filters_and_searches_campaigns(marketer_client):
    wanted = CampaignFactory(name="Autumn sale", type=CampaignType.NEWSLETTER)
    CampaignFactory(name="Autumn radio", type=CampaignType.RADIO)
    url = reverse("admin:campaigns_campaign_changelist")

    response = marketer_client.get(url, {"q": "autumn", "type__exact": CampaignType.NEWSLETTER})

    assert list(response.context["cl"].result_list) == [wanted]


@pytest.mark.parametrize("url_name", ["changelist", "add"])
def test_it_loads_campaign_pages_for_a_superuser(admin_client, url_name):
    CampaignFactory(start_date=datetime.date(2026, 1, 1))
    assert admin_client.get(reverse(f"admin:campaigns_campaign_{url_name}")).status_code == 200


def test_it_links_to_the_campaign_log(client):
    marketer = MarketerFactory()
    marketer.user_permissions.add(Permission.objects.get(codename="view_campaignlogrecord"))
    client.force_login(marketer)
    campaign = CampaignFactory()
    log_url = reverse("admin:campaigns_campaignlogrecord_changelist")

    page = client.get(change_url(campaign)).content.decode()

    assert f"{log_url}?campaign__id__exact={campaign.pk}" in page


def test_it_opens_the_mass_email_form_for_the_campaign_from_its_button(marketer_client):
    campaign = CampaignFactory(type=CampaignType.EMAIL)
    page = marketer_client.get(change_url(campaign)).content.decode()
    add_url = f"{reverse('admin:campaigns_massemail_add')}?campaign={campaign.pk}"
    assert add_url in page

    response = marketer_client.get(add_url)

    assert response.status_code == 200
    assert response.context["adminform"].form["campaign"].value() == campaign.pk
