import pytest
from django.test import Client

from api.problems import PROBLEMS
from tests.api.conftest import HOST, problem_of

pytestmark = pytest.mark.django_db


def test_a_path_no_url_matches_is_a_problem_document(admin_api):
    response = admin_api.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert problem_of(response)["code"] == "not_found"


def test_every_problem_type_leads_to_its_explanation(admin_api, settings):
    settings.SITE_URL = f"http://{HOST}"
    document = problem_of(admin_api.get("/api/v1/no-such-thing/"))

    explained = Client(HTTP_HOST=HOST).get(document["type"].removeprefix(f"http://{HOST}"))

    assert explained.status_code == 200
    assert explained.json()["code"] == "not_found"
    assert len(Client(HTTP_HOST=HOST).get("/api/v1/problems/").json()) == len(PROBLEMS)


def test_a_nul_character_in_the_query_is_refused_by_name(admin_api):
    response = admin_api.get("/api/v1/key/", {"email": "a\x00b"})

    assert response.status_code == 400
    assert problem_of(response)["code"] == "nul_character"


def test_the_host_header_refused_is_still_a_problem_document():
    response = Client(HTTP_HOST="evil.example").get("/api/v1/key/")

    assert response.status_code == 400
    assert problem_of(response)["code"] == "malformed_body"
