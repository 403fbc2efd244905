import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from crm.models import Account, Contact, EmailAddress, Lead
from tests.factories import (
    AccountFactory,
    ContactFactory,
    EmailAddressFactory,
    LeadFactory,
)

pytestmark = pytest.mark.django_db


PAGES = [
    "admin:crm_account_changelist",
    "admin:crm_account_add",
    "admin:crm_contact_changelist",
    "admin:crm_contact_add",
    "admin:crm_lead_changelist",
    "admin:crm_lead_add",
    "admin:crm_emailaddress_changelist",
    "admin:crm_emailaddress_add",
    "admin:auth_user_changelist",
]


@pytest.mark.parametrize("url_name", PAGES)
def test_it_loads_people_pages_for_a_marketer(marketer_client, url_name):
    ContactFactory(account=AccountFactory())
    LeadFactory()
    assert marketer_client.get(reverse(url_name)).status_code == 200


@pytest.mark.parametrize("url_name", PAGES)
def test_it_loads_people_pages_for_a_superuser(admin_client, url_name):
    ContactFactory(account=AccountFactory())
    assert admin_client.get(reverse(url_name)).status_code == 200


@pytest.mark.parametrize("factory", [AccountFactory, ContactFactory, LeadFactory])
def test_it_loads_change_pages_with_the_email_filled_in(marketer_client, factory):
    person = factory(email_address=EmailAddressFactory(address="ann@example.com"))
    opts = person._meta

    url = reverse(f"admin:crm_{opts.model_name}_change", args=[person.pk])
    response = marketer_client.get(url)

    assert response.status_code == 200
    assert response.context["adminform"].form["email"].value() == "ann@example.com"


def test_it_finds_or_creates_the_shared_address_from_the_email_field(marketer_client):
    url = reverse("admin:crm_contact_add")

    marketer_client.post(url, {"first_name": "Ann", "last_name": "Lee", "email": "Ann@Example.com"})
    marketer_client.post(url, {"first_name": "Bo", "last_name": "Lee", "email": "ann@example.COM"})
    lead_url = reverse("admin:crm_lead_add")
    marketer_client.post(
        lead_url, {"last_name": "Ray", "email": "ann@example.com", "status": Lead.Status.NEW}
    )

    address = EmailAddress.objects.get()
    assert address.address == "Ann@Example.com"
    assert set(Contact.objects.values_list("email_address", flat=True)) == {address.pk}
    assert Lead.objects.get().email_address == address


def test_it_clears_the_address_when_the_email_is_emptied(marketer_client):
    account = AccountFactory(name="Acme")
    url = reverse("admin:crm_account_change", args=[account.pk])

    response = marketer_client.post(url, {"name": "Acme", "email": ""})

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.email_address is None
    assert EmailAddress.objects.count() == 1  # the shared row stays for others


def test_it_rejects_a_malformed_email(marketer_client):
    response = marketer_client.post(
        reverse("admin:crm_contact_add"), {"last_name": "Lee", "email": "not-an-address"}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"]
    assert not Contact.objects.exists()


def test_it_shows_and_filters_by_the_address_flags(marketer_client):
    out = ContactFactory(email_address=EmailAddressFactory(opt_out=True))
    bad = ContactFactory(email_address=EmailAddressFactory(invalid=True))
    ContactFactory()
    url = reverse("admin:crm_contact_changelist")

    opted_out = marketer_client.get(url, {"email_address__opt_out__exact": "1"})
    invalid = marketer_client.get(url, {"email_address__invalid__exact": "1"})
    listing = marketer_client.get(url).content.decode()

    assert list(opted_out.context["cl"].result_list) == [out]
    assert list(invalid.context["cl"].result_list) == [bad]
    assert "icon-yes.svg" in listing  # the flag columns show as icons


def test_it_searches_people_by_email(marketer_client):
    wanted = LeadFactory(email_address=EmailAddressFactory(address="zed@acme.test"))
    LeadFactory()

    response = marketer_client.get(reverse("admin:crm_lead_changelist"), {"q": "acme.test"})

    assert list(response.context["cl"].result_list) == [wanted]


def test_it_toggles_address_flags_with_actions(marketer_client):
    addresses = EmailAddressFactory.create_batch(2)
    url = reverse("admin:crm_emailaddress_changelist")
    ids = [address.pk for address in addresses]

    marketer_client.post(url, {"action": "mark_opted_out", ACTION_CHECKBOX_NAME: ids, "index": 0})
    assert EmailAddress.objects.filter(opt_out=True).count() == 2
    marketer_client.post(url, {"action": "mark_opted_in", ACTION_CHECKBOX_NAME: ids, "index": 0})
    marketer_client.post(url, {"action": "mark_invalid", ACTION_CHECKBOX_NAME: ids, "index": 0})

    assert EmailAddress.objects.filter(opt_out=True).count() == 0
    assert EmailAddress.objects.filter(invalid=True).count() == 2


def test_it_refuses_a_second_row_for_the_same_address(marketer_client):
    EmailAddressFactory(address="ann@example.com")

    response = marketer_client.post(
        reverse("admin:crm_emailaddress_add"), {"address": "ANN@example.com"}
    )

    assert response.status_code == 200
    assert "This address exists already." in response.content.decode()
    assert EmailAddress.objects.count() == 1


def test_it_shows_who_uses_an_address(marketer_client):
    address = EmailAddressFactory()
    ContactFactory(first_name="Ann", last_name="Lee", email_address=address)
    AccountFactory(name="Acme", email_address=address)

    url = reverse("admin:crm_emailaddress_change", args=[address.pk])
    html = marketer_client.get(url).content.decode()

    assert "Ann Lee" in html and "Acme" in html


def test_it_autocompletes_accounts_for_the_contact_form(marketer_client):
    Account.objects.create(name="Acme")
    url = reverse("admin:autocomplete")

    response = marketer_client.get(
        url, {"term": "acm", "app_label": "crm", "model_name": "contact", "field_name": "account"}
    )

    assert [row["text"] for row in response.json()["results"]] == ["Acme"]
