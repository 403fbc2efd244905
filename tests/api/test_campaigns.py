"""Email templates, campaigns and tracking URLs through the API: the admin's checks apply."""

import pytest

from campaigns.models import Campaign
from tests.api.conftest import problem_of
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    EmailTemplateFactory,
    MassEmailFactory,
    TargetListFactory,
    TrackingUrlFactory,
)

pytestmark = pytest.mark.django_db


def test_a_template_with_an_unknown_placeholder_is_refused_by_field(admin_api):
    response = admin_api.post(
        "/api/v1/email-templates/",
        {"name": "T", "subject": "Hi {Person.nope}", "body_html": "<p>x</p>"},
    )

    problem = problem_of(response)
    assert response.status_code == 422
    assert list(problem["errors"]) == ["subject"]


def test_a_template_needs_a_body(admin_api):
    response = admin_api.post("/api/v1/email-templates/", {"name": "T", "subject": "S"})

    assert problem_of(response)["errors"] == {
        "non_field_errors": ["Write an HTML body, a plain-text body, or both."]
    }


def test_a_template_renders_for_a_person_and_the_sample_person(admin_api):
    template = EmailTemplateFactory(subject="Hi {Person.firstName|there}")
    contact = ContactFactory(first_name="Zoë")
    url = f"/api/v1/email-templates/{template.pk}/preview/"

    for_contact = admin_api.get(url, {"person": f"contact:{contact.pk}"}).json()
    sample = admin_api.get(url).json()
    missing = admin_api.get(url, {"person": "contact:999999"})
    malformed = admin_api.get(url, {"person": "robot:1"})

    assert for_contact["subject"] == "Hi Zoë"
    assert for_contact["person"] == str(contact)
    assert "Dear" in for_contact["html"] and for_contact["text"]
    assert sample["subject"].startswith("Hi ") and sample["errors"] == {}
    assert problem_of(missing)["code"] == "not_found"
    assert problem_of(malformed)["code"] == "invalid_parameter"


def test_a_campaign_with_lists_and_filters(admin_api):
    lists = [TargetListFactory(), TargetListFactory()]

    created = admin_api.post(
        "/api/v1/campaigns/",
        {
            "name": "Spring",
            "type": "newsletter",
            "status": "active",
            "target_lists": [lists[0].pk],
            "excluding_target_lists": [lists[1].pk],
        },
    )
    CampaignFactory(type="email")
    newsletters = admin_api.get("/api/v1/campaigns/", {"type": "newsletter"}).json()["results"]

    assert created.status_code == 201
    assert created.json()["target_lists"] == [lists[0].pk]
    assert [row["name"] for row in newsletters] == ["Spring"]


def test_a_campaign_ending_before_it_starts_is_refused(admin_api):
    response = admin_api.post(
        "/api/v1/campaigns/",
        {"name": "Bad", "start_date": "2026-12-10", "end_date": "2026-12-01"},
    )

    assert problem_of(response)["errors"] == {
        "end_date": ["The end date cannot be before the start date."]
    }
    assert not Campaign.objects.exists()


def test_a_campaigns_type_cannot_change_once_it_has_a_mass_email(admin_api):
    mass_email = MassEmailFactory(campaign__type="email")

    response = admin_api.patch(
        f"/api/v1/campaigns/{mass_email.campaign_id}/", {"type": "informational"}
    )

    assert response.status_code == 422
    assert "type" in problem_of(response)["errors"]


def test_tracking_urls_follow_the_campaigns_rules(admin_api):
    email = CampaignFactory(type="email")
    web = CampaignFactory(type="web")

    created = admin_api.post(
        "/api/v1/tracking-urls/",
        {"campaign": email.pk, "name": "Shop", "url": "https://shop.example/"},
    )
    refused = admin_api.post(
        "/api/v1/tracking-urls/",
        {"campaign": web.pk, "name": "Shop", "url": "https://shop.example/"},
    )
    no_url = admin_api.post("/api/v1/tracking-urls/", {"campaign": email.pk, "name": "X"})
    TrackingUrlFactory()
    listed = admin_api.get("/api/v1/tracking-urls/", {"campaign": email.pk}).json()["results"]

    assert created.status_code == 201
    assert created.json()["code"] == f"{{trackingUrl:{created.json()['id']}}}"
    assert "campaign" in problem_of(refused)["errors"]
    assert "url" in problem_of(no_url)["errors"]
    assert [row["id"] for row in listed] == [created.json()["id"]]
