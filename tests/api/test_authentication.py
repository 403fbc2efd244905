import pytest
from django.test import Client

from tests.api.conftest import HOST, ApiClient, problem_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_it_answers_the_calling_key(make_key):
    api = ApiClient(make_key(["people:read"]))

    response = api.get("/api/v1/key/")

    assert response.status_code == 200
    assert response.json()["scopes"] == ["people:read"]


@pytest.mark.parametrize(
    "header, code",
    [
        (None, "unauthenticated"),
        ("Basic dXNlcjpwYXNz", "unauthenticated"),
        ("Bearer", "invalid_key"),
        ("Bearer mm_abcdefgh_nope", "invalid_key"),
        ("Bearer mm_ABCDEFGH_nope", "invalid_key"),
        ("Bearer " + "x" * 5000, "invalid_key"),
    ],
)
def test_it_refuses_calls_without_a_valid_key(header, code):
    headers = {} if header is None else {"Authorization": header}

    response = Client(HTTP_HOST=HOST).get("/api/v1/key/", headers=headers)

    assert response.status_code == 401
    assert problem_of(response)["code"] == code
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_staff_session_may_read_but_must_send_the_csrf_token_to_change():
    client = Client(HTTP_HOST=HOST, enforce_csrf_checks=True)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    read = client.get("/api/v1/key/")
    refused = client.post("/api/v1/key/", "{}", content_type="application/json")

    assert read.status_code == 200
    assert read.json()["name"] == "session"
    assert refused.status_code == 403
    assert "CSRF" in problem_of(refused)["detail"]


def test_a_session_of_someone_not_staff_is_not_an_api_caller():
    client = Client(HTTP_HOST=HOST)
    client.force_login(UserFactory(is_staff=False))

    response = client.get("/api/v1/key/")

    assert response.status_code == 401
