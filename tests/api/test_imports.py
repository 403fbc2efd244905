"""CSV imports through the API: uploaded as multipart, run by the import's own task."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from crm.models import Contact
from people.models import PeopleImport
from tests.api.conftest import HOST, problem_of
from tests.factories import TargetListFactory

pytestmark = pytest.mark.django_db
CSV = b"E-mail;Nombre;Apellido\nann@example.com;Ann;Lee\nnot-an-address;Bob;Ray\n"


def upload(key: str, data: dict, headers: dict | None = None):
    return Client(HTTP_HOST=HOST).post(
        "/api/v1/imports/",
        data,
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
    )


def csv_file(content: bytes = CSV, name: str = "people.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_an_uploaded_csv_runs_as_the_admins_import(make_key, committed):
    key = make_key()
    target_list = TargetListFactory()

    with committed():
        accepted = upload(key, {"file": csv_file(), "target_list": target_list.pk})
    done = Client(HTTP_HOST=HOST).get(
        f"/api/v1/imports/{accepted.json()['id']}/", headers={"Authorization": f"Bearer {key}"}
    )

    assert accepted.status_code == 202
    assert accepted.json()["mapping"] == ["email", "first_name", "last_name"]
    assert done.json()["status"] == "done"
    assert (done.json()["created"], done.json()["rejected"]) == (1, 1)
    assert Contact.objects.get().email == "ann@example.com"
    assert target_list.entries.count() == 1
    rejected = Client(HTTP_HOST=HOST).get(
        done.json()["rejected_url"].removeprefix(f"http://{HOST}"),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert rejected["Content-Type"] == "text/csv"
    assert b"not-an-address" in b"".join(rejected.streaming_content)


def test_a_draft_is_kept_then_started_with_a_mapping(make_key, committed):
    key = make_key()
    draft = upload(key, {"file": csv_file(), "start": "false"})
    url = f"/api/v1/imports/{draft.json()['id']}/start/"

    with committed():
        started = Client(HTTP_HOST=HOST).post(
            url,
            {"mapping": ["email", "", "last_name"]},
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )

    assert draft.status_code == 201 and draft.json()["status"] == "draft"
    assert started.status_code == 202
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name) == ("", "Lee")


def test_a_mapping_without_the_email_column_imports_nothing(make_key):
    response = upload(make_key(), {"file": csv_file(), "mapping": '["", "first_name", ""]'})

    problem = problem_of(response)
    assert response.status_code == 422
    assert "mapping" in problem["errors"]
    assert "E-mail" in problem["detail"]
    assert not PeopleImport.objects.exists()


def test_a_file_that_is_no_csv_is_refused(make_key):
    response = upload(make_key(), {"file": csv_file(b"\x00\x01\x02" * 100, "x.bin")})

    assert response.status_code == 422
    assert "file" in problem_of(response)["errors"]


def test_an_upload_over_the_limit_is_refused_before_it_is_read(make_key, settings):
    settings.API_MAX_UPLOAD_MEGABYTES = 1

    response = upload(make_key(), {"file": csv_file(CSV * 40_000)})

    assert response.status_code == 413
    assert problem_of(response)["code"] == "body_too_large"


def test_the_same_upload_twice_with_a_key_imports_once(make_key):
    key = make_key()
    headers = {"Idempotency-Key": "import-2026-12-05"}

    first = upload(key, {"file": csv_file(), "start": "false"}, headers)
    again = upload(key, {"file": csv_file(), "start": "false"}, headers)

    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert PeopleImport.objects.count() == 1


def test_importing_needs_the_write_scope(make_key):
    response = upload(make_key(["people:read"]), {"file": csv_file()})

    assert problem_of(response)["code"] == "missing_scope"
