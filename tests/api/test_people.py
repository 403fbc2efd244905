"""Accounts, contacts and leads through the API: the upsert contract, refs, filters."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Contact
from tests.api.conftest import problem_of
from tests.factories import ContactFactory, EmailAddressFactory, TargetListEntryFactory

pytestmark = pytest.mark.django_db


def test_the_upsert_contract_creates_then_merges(admin_api):
    body = {"email": "ann@example.com", "merge": "fill", "first_name": "Ann", "last_name": "Lee"}

    created = admin_api.post("/api/v1/contacts/upsert/", body)
    merged = admin_api.post(
        "/api/v1/contacts/upsert/",
        {"email": "ANN@example.com", "merge": "overwrite", "first_name": "Anna", "title": "CTO"},
    )

    assert created.status_code == 201
    assert merged.status_code == 200
    assert merged.json()["id"] == created.json()["id"]
    assert merged.json() | {"created_at": "", "updated_at": ""} == {
        "id": created.json()["id"],
        "email": "ann@example.com",
        "opted_out": False,
        "invalid": False,
        "created_at": "",
        "updated_at": "",
        "external_id": None,
        "first_name": "Anna",
        "last_name": "Lee",
        "title": "CTO",
        "phone": "",
        "account": None,
    }


def test_an_upsert_with_an_unknown_merge_or_no_key_is_refused(admin_api):
    bad_merge = admin_api.post("/api/v1/contacts/upsert/", {"email": "a@example.com", "merge": "x"})
    no_key = admin_api.post("/api/v1/contacts/upsert/", {"first_name": "A"})

    assert problem_of(bad_merge)["errors"].keys() == {"merge"}
    assert no_key.status_code == 422 and "email" in problem_of(no_key)["errors"]


def test_a_new_contact_needs_a_last_name_as_in_the_admin(admin_api):
    response = admin_api.post("/api/v1/contacts/upsert/", {"email": "a@example.com"})

    assert response.status_code == 422
    assert problem_of(response)["errors"].keys() == {"last_name"}
    assert not Contact.objects.exists()


def test_a_record_is_found_by_id_email_or_external_id(admin_api):
    contact = ContactFactory(
        external_id="shop-7", email_address=EmailAddressFactory(address="Zoë@example.com")
    )
    ContactFactory(email_address=contact.email_address)  # a younger record with the address

    found = [
        admin_api.get(f"/api/v1/contacts/{ref}/").json()["id"]
        for ref in (contact.pk, "email:zoë@EXAMPLE.com", "external:shop-7")
    ]
    with_slash = ContactFactory(external_id="shop/8")  # a path cannot hold it: the filter can
    listed = admin_api.get("/api/v1/contacts/", {"external_id": "shop/8"}).json()["results"]

    assert found == [contact.pk] * 3
    assert [row["id"] for row in listed] == [with_slash.pk]
    assert admin_api.get("/api/v1/contacts/email:nobody@example.com/").status_code == 404
    assert admin_api.get("/api/v1/contacts/other:1/").status_code == 404


def test_changing_and_deleting_by_ref(admin_api):
    contact = ContactFactory(external_id="crm-9")

    changed = admin_api.patch(
        "/api/v1/contacts/external:crm-9/", {"email": "new@example.com", "phone": "+34 600"}
    )
    deleted = admin_api.delete("/api/v1/contacts/external:crm-9/")

    assert changed.json()["email"] == "new@example.com" and changed.json()["phone"] == "+34 600"
    assert deleted.status_code == 204
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_opting_out_and_back_in_through_the_api(admin_api):
    contact = ContactFactory()
    url = f"/api/v1/contacts/{contact.pk}/"

    out = admin_api.patch(url, {"opted_out": True})
    still_out = admin_api.patch(url, {"opted_out": False})
    refused = admin_api.patch(url, {"resubscribe": True})
    back = admin_api.patch(url, {"resubscribe": True, "consent_text": "Asked by phone"})

    assert out.json()["opted_out"] and still_out.json()["opted_out"]
    assert problem_of(refused)["code"] == "consent_required"
    assert back.json()["opted_out"] is False


def test_an_erased_address_cannot_be_added_again(admin_api):
    from crm import consent
    from crm.models import SuppressedAddress

    SuppressedAddress.objects.create(address_hash=consent.address_hash("gone@example.com"))

    response = admin_api.post(
        "/api/v1/contacts/", {"email": "gone@example.com", "last_name": "Gone"}
    )

    assert response.status_code == 422
    assert problem_of(response)["code"] == "address_suppressed"


def test_an_external_id_taken_is_a_conflict(admin_api):
    ContactFactory(external_id="crm-1")

    response = admin_api.post("/api/v1/contacts/", {"external_id": "crm-1", "last_name": "B"})

    assert response.status_code == 409
    assert problem_of(response)["code"] == "external_id_taken"


def test_people_are_filtered_by_email_list_and_updated_since(admin_api):
    old, recent = ContactFactory(), ContactFactory()
    Contact.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=3))
    member = TargetListEntryFactory()
    since = (timezone.now() - timedelta(days=1)).isoformat()

    by_email = admin_api.get("/api/v1/contacts/", {"email": old.email.upper()}).json()
    changed = admin_api.get("/api/v1/contacts/", {"updated_since": since}).json()
    in_list = admin_api.get("/api/v1/contacts/", {"list": member.target_list_id}).json()

    assert [row["id"] for row in by_email["results"]] == [old.pk]
    assert {row["id"] for row in changed["results"]} == {recent.pk, member.contact_id}
    assert [row["id"] for row in in_list["results"]] == [member.contact_id]


def test_a_sync_by_updated_since_pages_in_the_order_records_changed(admin_api):
    people = [ContactFactory() for _ in range(5)]
    now = timezone.now()
    for n, person in enumerate(reversed(people)):
        Contact.objects.filter(pk=person.pk).update(updated_at=now - timedelta(minutes=n))
    since = (now - timedelta(hours=1)).isoformat()

    first = admin_api.get("/api/v1/contacts/", {"updated_since": since, "limit": 2}).json()
    rest = admin_api.get(first["next"].removeprefix("http://127.0.0.1")).json()
    last = admin_api.get(rest["next"].removeprefix("http://127.0.0.1")).json()

    ids = [row["id"] for page in (first, rest, last) for row in page["results"]]
    assert ids == [person.pk for person in people]
    assert last["next_cursor"] is None


@pytest.mark.parametrize(
    "params",
    [{"updated_since": "yesterday"}, {"list": "x"}, {"list": str(2**64)}, {"limit": "0"}],
)
def test_a_filter_value_it_cannot_take_is_a_400(admin_api, params):
    response = admin_api.get("/api/v1/contacts/", params)

    assert response.status_code == 400
    assert problem_of(response)["code"] == "invalid_parameter"


def test_leads_and_accounts_have_their_own_fields(admin_api):
    lead = admin_api.post(
        "/api/v1/leads/upsert/",
        {"email": "lead@example.com", "last_name": "L", "status": "in_process", "source": "Fair"},
    )
    account = admin_api.post(
        "/api/v1/accounts/upsert/",
        {"external_id": "acme", "name": "ACME", "website": "https://acme.example"},
    )
    bad_status = admin_api.post(
        "/api/v1/leads/upsert/", {"email": "l2@example.com", "last_name": "L", "status": "won"}
    )

    assert lead.status_code == 201 and lead.json()["status"] == "in_process"
    assert account.status_code == 201 and account.json()["email"] == ""
    assert problem_of(bad_status)["errors"].keys() == {"status"}


def test_a_marketer_key_can_upsert_but_a_read_only_key_cannot(marketer_api, make_key):
    from tests.api.conftest import ApiClient

    read_only = ApiClient(make_key(["people:read"]))

    done = marketer_api.post(
        "/api/v1/contacts/upsert/", {"email": "m@example.com", "last_name": "M"}
    )
    refused = read_only.post("/api/v1/contacts/upsert/", {"email": "m@example.com"})

    assert done.status_code == 201
    assert problem_of(refused)["code"] == "missing_scope"
