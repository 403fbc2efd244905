"""The mass email form's link options, and the Pending check of the template's codes."""

import pytest
from django.urls import reverse

from campaigns.models import CampaignType, MassEmail
from tests.factories import (
    CampaignFactory,
    EmailTemplateFactory,
    MarketerFactory,
    MassEmailFactory,
    TrackingUrlFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(client):
    client.force_login(MarketerFactory())


def _post(client, mass_email, **changes):
    data = {
        "campaign": mass_email.campaign_id,
        "name": mass_email.name,
        "status": mass_email.status,
        "email_template": mass_email.email_template_id,
        "track_all_links": "on",
        **changes,
    }
    return client.post(reverse("admin:campaigns_massemail_change", args=[mass_email.pk]), data)


@pytest.mark.parametrize(
    ("campaign_type", "checked"),
    [
        (CampaignType.NEWSLETTER, True),
        (CampaignType.EMAIL, True),
        (CampaignType.INFORMATIONAL, False),
    ],
)
def test_it_proposes_track_all_links_by_campaign_type(client, marketer, campaign_type, checked):
    campaign = CampaignFactory(type=campaign_type)
    response = client.get(reverse("admin:campaigns_massemail_add"), {"campaign": campaign.pk})
    form = response.context["adminform"].form
    assert form.initial["track_all_links"] is checked
    for field in ("track_all_links", "utm_tags", "utm_source", "utm_campaign", "web_view_link"):
        assert field in form.fields


def test_it_refuses_pending_naming_the_codes_of_another_campaign(client, marketer):
    foreign = TrackingUrlFactory()
    template = EmailTemplateFactory(body_html=f'<a href="{foreign.code}">x</a>')
    mass_email = MassEmailFactory(email_template=template, status=MassEmail.Status.DRAFT)

    response = _post(client, mass_email, status="pending")

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["email_template"]
    assert foreign.code in errors[0] and mass_email.campaign.name in errors[0]
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.DRAFT
    assert _post(client, mass_email, status="draft", utm_tags="on").status_code == 302
    mass_email.refresh_from_db()
    assert mass_email.utm_tags and mass_email.track_all_links
