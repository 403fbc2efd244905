"""The suppression list and signup submissions through the API."""

import pytest

from crm import events
from crm.models import ConsentRecord, EmailAddress, Event, Lead
from people.models import SignupConfirmation
from tests.api.conftest import problem_of
from tests.factories import (
    ContactFactory,
    EmailAddressFactory,
    LeadFactory,
    SignupFormFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_addresses_are_suppressed_each_with_its_result(admin_api):
    EmailAddressFactory(address="known@example.com")
    EmailAddressFactory(address="out@example.com", opt_out=True)

    response = admin_api.post(
        "/api/v1/suppressions/",
        {
            "emails": [
                "KNOWN@example.com",
                "new@example.com",
                "out@example.com",
                "bad",
                "new@EXAMPLE.com",
            ]
        },
    )

    body = response.json()
    assert [row["result"] for row in body["results"]] == [
        "suppressed",
        "suppressed",
        "already_suppressed",
        "invalid",
        "duplicate",
    ]
    assert set(
        EmailAddress.objects.filter(opt_out=True).values_list("address_lower", flat=True)
    ) == {
        "known@example.com",
        "new@example.com",
        "out@example.com",
    }
    assert ConsentRecord.objects.filter(action="opt_out", method="api").count() == 2
    listed = admin_api.get("/api/v1/suppressions/", {"reason": "opted_out"}).json()["results"]
    assert [row["email"] for row in listed] == [
        "known@example.com",
        "out@example.com",
        "new@example.com",
    ]


def test_invalid_flags_are_listed_apart(admin_api):
    admin_api.post("/api/v1/suppressions/", {"emails": ["gone@example.com"], "reason": "invalid"})

    invalid = admin_api.get("/api/v1/suppressions/", {"reason": "invalid"}).json()["results"]
    opted_out = admin_api.get("/api/v1/suppressions/", {"reason": "opted_out"}).json()["results"]

    assert [(row["email"], row["invalid"], row["opted_out"]) for row in invalid] == [
        ("gone@example.com", True, False)
    ]
    assert opted_out == []


def test_suppressing_tells_of_every_person_with_the_address_once(admin_api):
    row = EmailAddressFactory(address="ann@example.com")
    ann, lead = ContactFactory(email_address=row), LeadFactory(email_address=row)
    user = UserFactory(email="Ann@example.com")
    body = {"emails": ["ann@example.com", "nobody@example.com"], "reason": "opted_out"}

    admin_api.post("/api/v1/suppressions/", body)
    admin_api.post("/api/v1/suppressions/", body)

    found = Event.objects.filter(type=events.ADDRESS_SUPPRESSED).order_by("person_type")
    assert [(e.person_type, e.person_id) for e in found] == [
        ("contact", ann.pk),
        ("lead", lead.pk),
        ("user", user.pk),
    ]
    assert found[0].data == {
        "person": {"type": "contact", "id": ann.pk},
        "email": "ann@example.com",
        "email_address_id": row.pk,
        "reason": "opted_out",
        "via": "api",
    }


def test_lifting_an_opt_out_needs_consent(admin_api):
    EmailAddressFactory(address="out@example.com", opt_out=True)

    refused = admin_api.delete("/api/v1/suppressions/", {"emails": ["out@example.com"]})
    lifted = admin_api.delete(
        "/api/v1/suppressions/",
        {"emails": ["out@example.com", "other@example.com"], "consent_text": "Asked in the shop"},
    )

    assert problem_of(refused)["code"] == "consent_required"
    assert [row["result"] for row in lifted.json()["results"]] == ["lifted", "not_suppressed"]
    assert not EmailAddress.objects.get(address_lower="out@example.com").opt_out
    assert ConsentRecord.objects.get().text == "Asked in the shop"


def test_a_signup_through_the_api_sends_the_confirmation_as_the_page_does(
    make_key, committed, mass_settings, smtp_server
):
    from tests.api.conftest import ApiClient

    form = SignupFormFactory(double_opt_in=True)
    api = ApiClient(make_key(["signup"]))

    with committed():
        answer = api.post(
            f"/api/v1/signup-forms/{form.pk}/submissions/",
            {"email": "zoe@example.com", "first_name": "Zoë", "client_ip": "203.0.113.9"},
        )

    lead = Lead.objects.get()
    confirmation = SignupConfirmation.objects.get()
    assert answer.status_code == 202
    assert answer.json() == {"accepted": True, "double_opt_in": True}
    assert (lead.first_name, lead.email) == ("Zoë", "zoe@example.com")
    assert confirmation.email_sent_at is not None
    (message,) = smtp_server.messages_to("zoe@example.com")
    assert "/f/confirm/" in message.get_payload(decode=True).decode()
    assert not form.target_lists.get().entries.exists()  # only the confirmation subscribes


def test_a_signup_answer_says_nothing_about_who_is_known(admin_api):
    form = SignupFormFactory(double_opt_in=False)
    url = f"/api/v1/signup-forms/{form.pk}/submissions/"

    first = admin_api.post(url, {"email": "josé@exämple.com"})
    again = admin_api.post(url, {"email": "JOSÉ@exämple.com"})

    assert first.json() == again.json() == {"accepted": True, "double_opt_in": False}
    assert form.target_lists.get().entries.count() == 1


def test_a_signup_with_an_address_smtp_cannot_carry_is_refused(admin_api):
    form = SignupFormFactory()

    response = admin_api.post(f"/api/v1/signup-forms/{form.pk}/submissions/", {"email": "a@b"})

    assert problem_of(response)["errors"].keys() == {"email"}
    assert not Lead.objects.exists()


def test_an_inactive_form_takes_no_signup(admin_api):
    form = SignupFormFactory(is_active=False)

    response = admin_api.post(
        f"/api/v1/signup-forms/{form.pk}/submissions/", {"email": "a@example.com"}
    )

    assert response.status_code == 404
