"""Fixtures of the API tests: keys for a marketer and an administrator, and clients that send
them as a real integration would (`Authorization: Bearer …`, JSON bodies)."""

import json

import pytest
from django.test import Client

from api import keys, scopes
from crm.groups import ADMINISTRATORS, MARKETING
from tests.factories import UserFactory, group_named

HOST = "127.0.0.1"


class ApiClient:
    """Django's test client speaking JSON with a bearer key (or none)."""

    def __init__(self, key: str | None = None) -> None:
        self.key = key
        self.client = Client(HTTP_HOST=HOST)

    def _headers(self, headers: dict | None) -> dict:
        sent = {} if self.key is None else {"Authorization": f"Bearer {self.key}"}
        return {**sent, **(headers or {})}

    def get(self, path: str, params: dict | None = None, headers: dict | None = None):
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def send(self, method: str, path: str, data=None, headers: dict | None = None, raw=None):
        body = raw if raw is not None else ("" if data is None else json.dumps(data))
        return self.client.generic(
            method,
            path,
            body,
            content_type="application/json",
            headers=self._headers(headers),
        )

    def post(self, path: str, data=None, headers: dict | None = None):
        return self.send("POST", path, data, headers)

    def patch(self, path: str, data=None, headers: dict | None = None):
        return self.send("PATCH", path, data, headers)

    def delete(self, path: str, data=None, headers: dict | None = None):
        return self.send("DELETE", path, data, headers)


def user_in(group_name: str, **fields):
    user = UserFactory(**fields)
    user.groups.add(group_named(group_name))
    return user


@pytest.fixture
def make_key(db):
    """make_key(scopes=..., group=MARKETING|ADMINISTRATORS, user=...) → the key's text."""

    def make(key_scopes=None, group: str = ADMINISTRATORS, user=None, **options) -> str:
        owner = user or user_in(group)
        chosen = list(scopes.SCOPES) if key_scopes is None else key_scopes
        return keys.create_key("test key", owner, chosen, **options).key

    return make


@pytest.fixture
def admin_api(make_key) -> ApiClient:
    """A client with an administrator's key holding every scope."""
    return ApiClient(make_key())


@pytest.fixture
def marketer_api(make_key) -> ApiClient:
    """A client with a marketer's key holding every scope."""
    return ApiClient(make_key(group=MARKETING))


@pytest.fixture
def anonymous_api() -> ApiClient:
    return ApiClient()


def problem_of(response) -> dict:
    """The problem document of a refusal, checked to be one."""
    assert response["Content-Type"] == "application/problem+json", response.content[:300]
    document = response.json()
    assert document["status"] == response.status_code
    assert {"type", "title", "detail", "code", "instance"} <= set(document)
    return document


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed(): …`: what the block queues on commit runs at its end, tasks
    included, here and now as a worker would."""
    from crm.celery import app

    app.loader.import_default_modules()  # every app's tasks registered: run_task applies them
    app.conf.task_always_eager = True
    yield lambda: django_capture_on_commit_callbacks(execute=True)
    app.conf.task_always_eager = False
