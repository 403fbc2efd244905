import pytest
from django.urls import reverse
from django.utils import timezone

from people.models import SignupConfirmation, SignupForm
from people.tasks import send_confirmation
from tests.factories import (
    CampaignFactory,
    SignupConfirmationFactory,
    SignupFormFactory,
    TargetListFactory,
    TrackingUrlFactory,
)
from tests.people.test_signup import queued_tasks

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


def test_it_queues_failed_confirmation_emails_again_and_the_task_sends_them(
    marketer_client, django_capture_on_commit_callbacks, smtp_server, mass_settings
):
    failed = SignupConfirmationFactory(email_error="Connection refused by 127.0.0.1:1")
    confirmed = SignupConfirmationFactory(confirmed_at=timezone.now())
    url = reverse("admin:people_signupconfirmation_changelist")

    with django_capture_on_commit_callbacks() as callbacks:
        response = marketer_client.post(
            url,
            {"action": "send_again", "_selected_action": [failed.pk, confirmed.pk]},
            follow=True,
        )

    assert "Confirmation emails queued, each with a fresh link: 1." in response.content.decode()
    assert queued_tasks(callbacks) == [("people.tasks.send_confirmation", (failed.pk,))]
    assert smtp_server.total == 0  # nothing is sent in the admin's request
    failed.refresh_from_db()
    assert not failed.email_error and not failed.email_sent_at

    send_confirmation.apply(args=[failed.pk])
    failed.refresh_from_db()
    assert failed.email_sent_at and not failed.email_error
    assert len(smtp_server.messages_to(failed.email_address.address)) == 1


def test_it_sends_an_email_already_sent_again(
    marketer_client, django_capture_on_commit_callbacks, smtp_server, mass_settings
):
    confirmation = SignupConfirmationFactory()
    send_confirmation.apply(args=[confirmation.pk])
    url = reverse("admin:people_signupconfirmation_changelist")

    with django_capture_on_commit_callbacks() as callbacks:
        marketer_client.post(url, {"action": "send_again", "_selected_action": [confirmation.pk]})
    send_confirmation.apply(args=callbacks[0].args[1:])

    assert len(smtp_server.messages_to(confirmation.email_address.address)) == 2
    assert SignupConfirmation.objects.get().email_sent_at
