from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from api.models import ApiKey
from tests.api.conftest import ApiClient
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run(*args) -> list[str]:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue().splitlines()


def test_it_prints_the_key_last_and_the_key_works():
    lines = run("website", "--scopes", "people:write", "lists:write")

    key = lines[-1]
    response = ApiClient(key).get("/api/v1/key/")
    assert response.status_code == 200
    assert response.json() | {"expires_at": None} == {
        "name": "website",
        "prefix": key[3:11],
        "user": "api",
        "scopes": ["lists:write", "people:write"],
        "expires_at": None,
        "rate_per_minute": 600,
    }


def test_without_scopes_the_key_has_every_scope_and_expires_in_a_year():
    key = run("everything")[-1]

    row = ApiKey.objects.get(prefix=key[3:11])
    assert "webhooks:manage" in row.scopes and "send" in row.scopes
    assert row.expires_at is not None
    assert row.user.groups.filter(name="Administrators").exists()
    assert not row.user.has_usable_password()


def test_it_acts_as_the_user_named():
    UserFactory(username="shop-sync")

    key = run("shop", "--user", "shop-sync", "--expires-days", "0")[-1]

    row = ApiKey.objects.get(prefix=key[3:11])
    assert row.user.username == "shop-sync"
    assert row.expires_at is None


@pytest.mark.parametrize(
    "args, message",
    [
        (("x", "--scopes", "people:read", "root"), "Unknown scope: root"),
        (("x", "--user", "nobody"), "No user named"),
    ],
)
def test_it_refuses_what_it_cannot_do(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not ApiKey.objects.exists()
