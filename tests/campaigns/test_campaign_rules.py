import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.forms import modelform_factory

from campaigns.models import Campaign, CampaignType, MassEmail, TrackingUrl
from tests.factories import (
    CampaignFactory,
    EmailTemplateFactory,
    MassEmailFactory,
    TrackingUrlFactory,
)

pytestmark = pytest.mark.django_db

MASS_EMAIL_TYPES = [CampaignType.EMAIL, CampaignType.NEWSLETTER, CampaignType.INFORMATIONAL]
OTHER_TYPES = [CampaignType.WEB, CampaignType.TELEVISION, CampaignType.RADIO, CampaignType.MAIL]


def errors_of(instance) -> dict:
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    return caught.value.message_dict


def test_it_refuses_an_end_date_before_the_start_date():
    campaign = CampaignFactory.build(
        start_date=datetime.date(2026, 5, 2), end_date=datetime.date(2026, 5, 1)
    )

    assert errors_of(campaign)["end_date"] == ["The end date cannot be before the start date."]


def test_it_accepts_a_one_day_campaign():
    day = datetime.date(2026, 5, 2)
    CampaignFactory.build(start_date=day, end_date=day).full_clean()


def test_it_enforces_the_date_order_in_the_database_too():
    campaign = CampaignFactory(start_date=datetime.date(2026, 5, 2))

    with pytest.raises(IntegrityError):
        Campaign.objects.filter(pk=campaign.pk).update(end_date=datetime.date(2026, 5, 1))


def test_it_locks_the_type_once_a_mass_email_exists():
    campaign = MassEmailFactory(campaign__type=CampaignType.EMAIL).campaign
    campaign.type = CampaignType.NEWSLETTER

    assert errors_of(campaign)["type"] == [
        "The type cannot change once the campaign has a mass email."
    ]


def test_it_lets_the_type_change_before_any_mass_email():
    campaign = CampaignFactory(type=CampaignType.EMAIL)
    campaign.type = CampaignType.RADIO
    campaign.full_clean()


@pytest.mark.parametrize("campaign_type", OTHER_TYPES)
def test_it_refuses_mass_emails_for_other_campaign_types(campaign_type):
    campaign = CampaignFactory(type=campaign_type)
    form_class = modelform_factory(MassEmail, fields=("campaign", "name", "email_template"))

    form = form_class(
        {"campaign": campaign.pk, "name": "Blast", "email_template": EmailTemplateFactory().pk}
    )

    assert not form.is_valid()
    assert form.errors["campaign"] == [
        "Mass emails are only for Email, Newsletter and Informational campaigns."
    ]


@pytest.mark.parametrize("campaign_type", MASS_EMAIL_TYPES)
def test_it_accepts_mass_emails_for_email_campaign_types(campaign_type):
    mass_email = MassEmailFactory.build(
        campaign=CampaignFactory(type=campaign_type), email_template=EmailTemplateFactory()
    )
    mass_email.full_clean()


@pytest.mark.parametrize(
    ("campaign_type", "allowed"),
    [
        (CampaignType.EMAIL, True),
        (CampaignType.NEWSLETTER, True),
        (CampaignType.INFORMATIONAL, False),
        (CampaignType.WEB, False),
        (CampaignType.MAIL, False),
    ],
)
def test_it_allows_tracking_urls_only_for_email_and_newsletter(campaign_type, allowed):
    link = TrackingUrlFactory.build(campaign=CampaignFactory(type=campaign_type))

    if allowed:
        link.full_clean()
    else:
        assert errors_of(link)["campaign"] == [
            "Tracking URLs are only for Email and Newsletter campaigns."
        ]


def test_it_requires_a_url_to_redirect_to_or_a_message_to_show():
    campaign = CampaignFactory()
    redirect = TrackingUrl(campaign=campaign, name="x", action=TrackingUrl.Action.REDIRECT)
    message = TrackingUrl(campaign=campaign, name="y", action=TrackingUrl.Action.SHOW_MESSAGE)

    assert "url" in errors_of(redirect)
    assert "message" in errors_of(message)


def test_it_refuses_a_tracking_url_that_is_not_http():
    link = TrackingUrlFactory.build(campaign=CampaignFactory(), url="javascript:alert(1)")

    assert "url" in errors_of(link)


def test_it_gives_the_code_to_paste_once_saved():
    link = TrackingUrlFactory()

    assert link.code == f"{{trackingUrl:{link.pk}}}"
    assert TrackingUrl(name="new").code == ""
