import re

import pytest
from django.urls import reverse

from api.models import ApiKey
from tests.api.conftest import ApiClient, user_in

pytestmark = pytest.mark.django_db


def test_an_administrator_makes_a_key_and_sees_it_once(admin_client):
    owner = user_in("Marketing")

    response = admin_client.post(
        reverse("admin:api_apikey_add"),
        {
            "name": "website",
            "user": owner.pk,
            "scopes": ["people:write", "signup"],
            "expires_at_0": "2099-01-01",
            "expires_at_1": "00:00:00",
            "is_active": "on",
        },
    )

    key = re.search(r'value="(mm_[a-z0-9]{8}_[^"]+)"', response.content.decode())[1]
    row = ApiKey.objects.get()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert (row.user, row.scopes, row.prefix) == (owner, ["people:write", "signup"], key[3:11])
    assert ApiClient(key).get("/api/v1/key/").json()["user"] == owner.username
    change_page = admin_client.get(reverse("admin:api_apikey_change", args=[row.pk]))
    assert key not in change_page.content.decode()
    assert f"mm_{row.prefix}_…" in change_page.content.decode()


def test_unticking_active_revokes_the_key_at_once(admin_client, make_key):
    key = make_key()
    row = ApiKey.objects.get()

    admin_client.post(
        reverse("admin:api_apikey_change", args=[row.pk]),
        {"name": row.name, "scopes": row.scopes, "expires_at_0": "", "expires_at_1": ""},
    )

    response = ApiClient(key).get("/api/v1/key/")
    assert response.status_code == 401
    assert response.json()["code"] == "key_revoked"


def test_marketers_cannot_see_api_keys(client):
    marketer = user_in("Marketing", is_staff=True)
    client.force_login(marketer)

    response = client.get(reverse("admin:api_apikey_changelist"))

    assert response.status_code == 403
