"""Target lists through the API: CRUD, members, bulk membership (at once and as a job)."""

import pytest

from targetlists.models import TargetList, TargetListEntry
from tests.api.conftest import ApiClient, problem_of
from tests.factories import (
    ContactFactory,
    EmailAddressFactory,
    TargetListEntryFactory,
    TargetListFactory,
)

pytestmark = pytest.mark.django_db


def test_it_creates_reads_changes_and_deletes_a_list(admin_api):
    created = admin_api.post("/api/v1/target-lists/", {"name": "Customers"})
    url = f"/api/v1/target-lists/{created.json()['id']}/"

    changed = admin_api.patch(url, {"description": "Bought in 2026"})
    read = admin_api.get(url)
    deleted = admin_api.delete(url)

    assert created.status_code == 201
    assert changed.json()["description"] == "Bought in 2026"
    assert read.json() | {"id": 0, "created_at": ""} == {
        "id": 0,
        "name": "Customers",
        "description": "Bought in 2026",
        "category": None,
        "created_at": "",
        "entries": 0,
        "opted_out": 0,
    }
    assert deleted.status_code == 204
    assert not TargetList.objects.exists()


def test_a_list_without_a_name_is_refused_field_by_field(admin_api):
    response = admin_api.post("/api/v1/target-lists/", {"name": ""})

    problem = problem_of(response)
    assert response.status_code == 422
    assert problem["code"] == "invalid_fields"
    assert list(problem["errors"]) == ["name"]


def test_lists_are_paged_with_a_cursor_and_filtered_by_name(admin_api):
    for n in range(5):
        TargetListFactory(name=f"Shop {n}")
    TargetListFactory(name="Other")

    first = admin_api.get("/api/v1/target-lists/", {"limit": 3, "name": "shop"}).json()
    second = admin_api.get(first["next"].removeprefix("http://127.0.0.1")).json()

    names = [row["name"] for row in first["results"] + second["results"]]
    assert names == [f"Shop {n}" for n in range(5)]
    assert second["next_cursor"] is None


def test_it_adds_members_by_address_and_answers_each_one(admin_api):
    target_list = TargetListFactory()
    ann = ContactFactory(email_address=EmailAddressFactory(address="ann@example.com"))

    response = admin_api.post(
        f"/api/v1/target-lists/{target_list.pk}/members/",
        {"emails": ["ANN@example.com", "nobody@example.com", "josé@"]},
    )

    body = response.json()
    assert response.status_code == 200
    assert body["counts"] == {"added": 1, "not_found": 1, "invalid": 1}
    assert body["results"][0] == {
        "index": 0,
        "value": "ANN@example.com",
        "result": "added",
        "ids": [ann.pk],
        "error": "",
    }
    members = admin_api.get(f"/api/v1/target-lists/{target_list.pk}/members/").json()
    assert [(m["type"], m["person_id"], m["email"]) for m in members["results"]] == [
        ("contact", ann.pk, "ann@example.com")
    ]


def test_it_removes_and_opts_out_members(admin_api):
    target_list = TargetListFactory()
    stays, leaves = (
        TargetListEntryFactory(target_list=target_list),
        TargetListEntryFactory(target_list=target_list),
    )
    url = f"/api/v1/target-lists/{target_list.pk}/members/"

    removed = admin_api.delete(url, {"ids": [leaves.contact_id]})
    opted_out = admin_api.post(url + "opt-out/", {"emails": [stays.contact.email]})

    assert removed.json()["counts"] == {"removed": 1}
    assert opted_out.json()["counts"] == {"opted_out": 1}
    assert list(TargetListEntry.objects.values_list("contact_id", "opted_out")) == [
        (stays.contact_id, True)
    ]
    listed = admin_api.get(url, {"opted_out": "true"}).json()["results"]
    assert [m["person_id"] for m in listed] == [stays.contact_id]


def test_resubscribing_needs_a_consent_text(admin_api):
    target_list = TargetListFactory()
    entry = TargetListEntryFactory(target_list=target_list, opted_out=True)

    response = admin_api.post(
        f"/api/v1/target-lists/{target_list.pk}/members/",
        {"ids": [entry.contact_id], "resubscribe": True},
    )

    assert response.status_code == 422
    assert problem_of(response)["code"] == "consent_required"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"emails": ["a@example.com"], "ids": [1]},
        {"emails": "a@example.com"},
        {"ids": [1], "type": "user"},
        {"ids": [1], "resubscribe": "yes"},
        [1, 2],
    ],
)
def test_a_call_that_names_nobody_clearly_is_refused(admin_api, body):
    target_list = TargetListFactory()

    response = admin_api.post(f"/api/v1/target-lists/{target_list.pk}/members/", body)

    assert response.status_code == 422
    assert problem_of(response)["code"] == "invalid_fields"


def test_over_100000_items_are_refused(admin_api):
    target_list = TargetListFactory()

    response = admin_api.post(
        f"/api/v1/target-lists/{target_list.pk}/members/", {"ids": [1] * 100_001}
    )

    assert response.status_code == 422
    assert problem_of(response)["code"] == "too_many_items"


def test_a_big_call_is_a_job_with_per_item_results(admin_api, committed):
    target_list = TargetListFactory()
    people = [ContactFactory() for _ in range(3)]
    emails = [person.email for person in people] + [f"x{n}@example.com" for n in range(1500)]

    with committed():
        url = f"/api/v1/target-lists/{target_list.pk}/members/"
        accepted = admin_api.post(url, {"emails": emails})
    job_url = accepted["Location"].removeprefix("http://127.0.0.1")
    job = admin_api.get(job_url).json()
    first = admin_api.get(job["results_url"].removeprefix("http://127.0.0.1"), {"limit": 1000})
    second = admin_api.get(first.json()["next"].removeprefix("http://127.0.0.1"))

    assert accepted.status_code == 202
    assert accepted.json()["status"] == "queued"
    assert job["status"] == "done"
    assert job["counts"] == {"added": 3, "not_found": 1500}
    items = first.json()["results"] + second.json()["results"]
    assert [item["index"] for item in items] == list(range(1503))
    assert [item["result"] for item in items[:4]] == ["added"] * 3 + ["not_found"]
    assert items[1502]["value"] == "x1499@example.com"
    assert second.json()["next_cursor"] is None
    assert target_list.entries.count() == 3


def test_a_job_is_seen_only_by_its_user(admin_api, make_key, committed):
    target_list = TargetListFactory()
    with committed():
        accepted = admin_api.post(
            f"/api/v1/target-lists/{target_list.pk}/members/", {"ids": list(range(1, 1100))}
        )

    other = ApiClient(make_key()).get(f"/api/v1/jobs/{accepted.json()['id']}/")

    assert other.status_code == 404
    assert problem_of(other)["code"] == "not_found"


def test_reading_lists_needs_its_scope_and_the_users_permission(make_key):
    TargetListFactory()
    without_scope = ApiClient(make_key(["people:read"]))
    read_only = ApiClient(make_key(["lists:read"]))

    refused = without_scope.get("/api/v1/target-lists/")
    read = read_only.get("/api/v1/target-lists/")
    not_written = read_only.post("/api/v1/target-lists/", {"name": "x"})

    assert refused.status_code == 403 and problem_of(refused)["code"] == "missing_scope"
    assert read.status_code == 200
    assert problem_of(not_written)["code"] == "missing_scope"


def test_a_key_never_does_more_than_its_users_groups(make_key):
    from tests.factories import UserFactory

    nobody = UserFactory()  # in no group
    api = ApiClient(make_key(user=nobody))

    response = api.get("/api/v1/target-lists/")

    assert response.status_code == 403
    assert problem_of(response)["code"] == "permission_denied"
    assert "targetlists.view_targetlist" in problem_of(response)["detail"]


@pytest.mark.parametrize("pk", ["0", "99999999", str(2**63), str(2**70)])
def test_unknown_and_impossible_ids_are_not_found(admin_api, pk):
    response = admin_api.get(f"/api/v1/target-lists/{pk}/")

    assert response.status_code == 404
    assert problem_of(response)["code"] == "not_found"
