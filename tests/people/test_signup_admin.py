import pytest
from django.urls import reverse

from people.models import SignupForm
from tests.factories import (
    CampaignFactory,
    SignupFormFactory,
    TargetListFactory,
    TrackingUrlFactory,
)

pytestmark = pytest.mark.django_db


def form_data(**changes):
    data = {
        "name": "Fair signup",
        "is_active": "on",
        "target_lists": [TargetListFactory().pk],
        "lead_source": "Fair",
        "ask_first_name": "on",
        "consent_text": "I agree.",
        "double_opt_in": "on",
        "thank_you_text": "Thanks!",
    }
    data.update(changes)
    return data


def test_it_creates_a_form_and_shows_its_page_and_snippet(marketer_client):
    response = marketer_client.post(reverse("admin:people_signupform_add"), form_data())
    assert response.status_code == 302
    form = SignupForm.objects.get()

    page = marketer_client.get(reverse("admin:people_signupform_change", args=[form.pk]))

    text = page.content.decode()
    assert f"/f/{form.key}/" in text and "&lt;iframe" in text


def test_it_versions_the_consent_text(marketer_client):
    form = SignupFormFactory()
    url = reverse("admin:people_signupform_change", args=[form.pk])
    lists = [form.target_lists.get().pk]

    marketer_client.post(url, form_data(target_lists=lists, consent_text=form.consent_text))
    form.refresh_from_db()
    assert form.text_version == 1
    marketer_client.post(url, form_data(target_lists=lists, consent_text="New words."))
    form.refresh_from_db()
    assert form.text_version == 2


def test_it_refuses_a_redirect_to_another_campaigns_link(marketer_client):
    campaign = CampaignFactory()
    foreign = TrackingUrlFactory()
    data = form_data(campaign=campaign.pk, redirect_link=foreign.pk)

    response = marketer_client.post(reverse("admin:people_signupform_add"), data)

    assert "Choose a redirecting tracking URL of the form" in response.content.decode()
    assert not SignupForm.objects.exists()
