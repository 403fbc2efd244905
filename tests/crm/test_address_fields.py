"""Addresses are checked by crm.addresses wherever they enter: admin forms of people, email
addresses, settings and test sends. Each problem is a form error naming it, never a 500."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from campaigns.models import MassEmail
from crm.address_fields import validate_stored_address
from crm.models import Contact, EmailAddress
from tests.factories import MassEmailFactory

pytestmark = pytest.mark.django_db

LONGEST = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.com"  # 254 characters, all allowed
TOO_LONG = f"{'x' * 60}@{'y' * 240}.com"  # 305 characters
REFUSED = {
    TOO_LONG: "too long",
    "ann@": "has no domain",
    "ann": "no @",
    "ann@exa mple.com": "not a valid domain",
    "ann@xn--zz.com": "IDNA",
    "an n@example.com": "characters an address cannot have",
    "ann@example.com\x01": "control characters",
}


def test_the_examples_have_the_lengths_they_claim():
    assert len(LONGEST) == 254
    assert len(TOO_LONG) > 300


@pytest.mark.parametrize("address", ["josé@exämple.com", "Ann@Example.com", LONGEST])
def test_it_accepts_what_smtp_can_carry(address):
    validate_stored_address(address)


def contact_form(address: str) -> dict:
    return {"first_name": "Ann", "last_name": "Lee", "email": address}


@pytest.mark.parametrize("address", ["josé@exämple.com", "JOSÉ@EXÄMPLE.COM", LONGEST])
def test_it_saves_a_contact_with_an_international_or_longest_address(marketer_client, address):
    response = marketer_client.post(reverse("admin:crm_contact_add"), contact_form(address))

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Contact.objects.get().email == address
    assert EmailAddress.objects.get().address_lower == address.lower()


@pytest.mark.parametrize(("address", "words"), REFUSED.items())
def test_it_names_the_problem_of_a_contact_address(marketer_client, address, words):
    response = marketer_client.post(reverse("admin:crm_contact_add"), contact_form(address))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["email"]
    assert any(words in error for error in errors), errors
    assert not Contact.objects.exists()
    assert not EmailAddress.objects.exists()


@pytest.mark.parametrize(("address", "words"), REFUSED.items())
def test_it_names_the_problem_of_a_shared_address(admin_client, address, words):
    data = {"address": address, "opt_out": "", "invalid": ""}
    response = admin_client.post(reverse("admin:crm_emailaddress_add"), data)

    assert response.status_code == 200
    assert any(words in e for e in response.context["adminform"].form.errors["address"])
    assert not EmailAddress.objects.exists()


def test_it_renders_the_address_box_as_text_so_browsers_take_utf8_local_parts(marketer_client):
    body = marketer_client.get(reverse("admin:crm_contact_add")).content.decode()

    assert 'type="email"' not in body
    assert 'inputmode="email"' in body
    assert 'maxlength="254"' not in body  # a pasted long address gets the error, not a cut


def test_it_names_the_problem_of_a_mass_emails_reply_to_address(admin_client):
    mass_email = MassEmailFactory()
    url = reverse("admin:campaigns_massemail_change", args=[mass_email.pk])
    page = admin_client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data = {k: v for k, v in data.items() if not isinstance(v, list)}
    data["target_lists"] = [str(pk) for pk in form["target_lists"].value()]
    data["reply_to_address"] = TOO_LONG

    response = admin_client.post(url, data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any("too long" in e for e in errors["reply_to_address"]), errors
    assert MassEmail.objects.get().reply_to_address == mass_email.reply_to_address


def test_it_names_the_problem_of_a_users_address(admin_client):
    user = get_user_model().objects.create_user("uma", "uma@example.com", "pw-for-tests-123")
    url = reverse("admin:auth_user_change", args=[user.pk])
    data = {
        "username": "uma",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "10:00:00",
    }

    refused = admin_client.post(url, {**data, "email": TOO_LONG})
    saved = admin_client.post(url, {**data, "email": "umá@exämple.com"})

    assert any("too long" in e for e in refused.context["adminform"].form.errors["email"])
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.email == "umá@exämple.com"


def test_the_test_email_form_names_the_problem(admin_client):
    response = admin_client.post(
        reverse("admin:crm_outboundemailsettings_send_test_email", args=[1]),
        {"to_address": TOO_LONG},
    )

    assert response.status_code == 200
    assert "too long" in response.content.decode()
