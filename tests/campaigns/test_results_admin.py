import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import translation

from campaigns.results import counters as result_counters
from tests.campaigns.test_results import scenario
from tests.factories import CampaignFactory, MarketerFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_it_shows_the_results_of_a_campaign(marketer_client):
    campaign, first, _second, home, _shop = scenario()
    result_counters.update_counters()

    response = marketer_client.get(reverse("admin:campaigns_campaign_results", args=[campaign.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="figure-sent">3<' in page
    assert 'id="figure-opened">1 / 2<' in page
    assert "results-chart" in page and "<circle" in page
    assert home.name in page and "globex.test" in page
    assert "Mass emails compared" in page
    assert reverse("admin:campaigns_massemail_results", args=[first.pk]) in page
    assert "Hard: " in page and "Soft: " in page


def test_it_shows_the_results_of_one_mass_email(marketer_client):
    campaign, first, _second, _home, _shop = scenario()

    response = marketer_client.get(reverse("admin:campaigns_massemail_results", args=[first.pk]))

    assert response.status_code == 200
    assert 'id="figure-sent">2<' in response.content.decode()
    assert "Mass emails compared" not in response.content.decode()


@pytest.mark.parametrize("table", ["chart", "links", "domains"])
def test_it_exports_each_table_as_csv(marketer_client, table):
    campaign, *_rest = scenario()
    url = reverse("admin:campaigns_campaign_results", args=[campaign.pk])

    response = marketer_client.get(url, {"export": table})

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert len(rows) >= 2


def test_it_links_results_from_the_campaign_list_and_page(marketer_client):
    campaign = CampaignFactory()
    results_url = reverse("admin:campaigns_campaign_results", args=[campaign.pk])
    listing = marketer_client.get(reverse("admin:campaigns_campaign_changelist"))
    page = marketer_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert results_url in listing.content.decode()
    assert results_url in page.content.decode()
    assert "No opens or clicks yet." in marketer_client.get(results_url).content.decode()


def test_it_refuses_a_user_without_view_permission(client):
    campaign = CampaignFactory()
    client.force_login(UserFactory(is_staff=True))
    response = client.get(reverse("admin:campaigns_campaign_results", args=[campaign.pk]))
    assert response.status_code == 403


def test_it_filters_the_log_to_a_reason_and_a_mass_email(client):
    user = MarketerFactory()
    user.user_permissions.add(Permission.objects.get(codename="view_campaignlogrecord"))
    client.force_login(user)
    campaign, first, *_rest = scenario()
    item = first.queue_items.get(email="bob@globex.test")
    item.status, item.last_error = "failed", "550 5.1.1 <bob@globex.test> unknown"
    item.save()
    url = reverse("admin:campaigns_campaignlogrecord_changelist")

    by_reason = client.get(url, {"campaign__id__exact": campaign.pk, "reason": "550 5.1.1 <"})
    by_email = client.get(url, {"campaign__id__exact": campaign.pk, "mass_email": first.pk})

    assert {r.email for r in by_reason.context["cl"].result_list} == {"bob@globex.test"}
    assert {r.email for r in by_email.context["cl"].result_list} == {
        "ann@globex.test",
        "bob@globex.test",
        "me@initech.test",
    }


def test_it_reads_in_spanish_with_spanish_numbers(marketer_client):
    campaign, *_rest = scenario()
    url = reverse("admin:campaigns_campaign_results", args=[campaign.pk])

    with translation.override("en"):  # restores the language the request leaves active
        page = marketer_client.get(url, headers={"accept-language": "es"}).content.decode()

    assert "Resultados de" in page and "Aperturas y clics a lo largo del tiempo" in page
    assert "50,00 %" in page and "50.00" not in page
