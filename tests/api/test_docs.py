import re

import pytest
import yaml
from django.test import Client

from tests.api.conftest import HOST

pytestmark = pytest.mark.django_db


def test_the_schema_is_openapi_3_with_bearer_keys_and_problem_answers():
    response = Client(HTTP_HOST=HOST).get("/api/v1/schema/")

    schema = yaml.safe_load(response.content)
    assert response.status_code == 200
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    key_answers = schema["paths"]["/api/v1/key/"]["get"]["responses"]
    assert "application/problem+json" in key_answers["401"]["content"]


def test_the_docs_page_loads_everything_from_our_own_static_files():
    response = Client(HTTP_HOST=HOST).get("/api/v1/docs/")

    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    policy = response["Content-Security-Policy"]
    assert response.status_code == 200
    assert sources and all(source.startswith("/") for source in sources), sources
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    nonce = re.search(r"'nonce-([^']+)'", policy)[1]
    assert f'<style nonce="{nonce}">' in html


def test_the_docs_script_is_served_from_our_address():
    response = Client(HTTP_HOST=HOST).get("/api/v1/docs/?script=")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "/api/v1/schema/" in response.content.decode()
