from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from api import keys
from api.models import ApiKey
from api.scopes import UnknownScope
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_it_stores_only_a_hash_and_shows_the_key_once():
    made = keys.create_key("shop", UserFactory(), ["results:read"])

    row = ApiKey.objects.get(pk=made.api_key.pk)
    assert made.key.startswith(f"mm_{row.prefix}_")
    assert len(made.key) > 50
    assert made.key not in str(ApiKey.objects.filter(pk=row.pk).values().get())
    assert row.key_hash == keys.key_hash(made.key)


def test_it_finds_the_key_by_its_prefix_and_notes_its_use():
    made = keys.create_key("shop", UserFactory(), ["results:read"])

    found = keys.authenticate(made.key)

    assert found.pk == made.api_key.pk
    assert ApiKey.objects.get(pk=found.pk).last_used_at is not None


def test_it_refuses_a_key_with_the_right_prefix_and_another_secret():
    made = keys.create_key("shop", UserFactory(), [])
    forged = made.key[:-4] + ("AAAA" if not made.key.endswith("AAAA") else "BBBB")

    with pytest.raises(keys.InvalidKey) as refused:
        keys.authenticate(forged)

    assert refused.value.code == "invalid_key"


@pytest.mark.parametrize(
    "change, code",
    [
        ({"is_active": False}, "key_revoked"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "key_expired"),
    ],
)
def test_it_refuses_revoked_and_expired_keys(change, code):
    made = keys.create_key("shop", UserFactory(), [])
    ApiKey.objects.filter(pk=made.api_key.pk).update(**change)

    with pytest.raises(keys.InvalidKey) as refused:
        keys.authenticate(made.key)

    assert refused.value.code == code


def test_it_refuses_the_key_of_an_inactive_user():
    user = UserFactory()
    made = keys.create_key("shop", user, [])
    user.is_active = False
    user.save()

    with pytest.raises(keys.InvalidKey) as refused:
        keys.authenticate(made.key)

    assert refused.value.code == "key_user_inactive"


def test_it_refuses_unknown_scopes():
    with pytest.raises(UnknownScope, match="everything"):
        keys.create_key("shop", UserFactory(), ["people:read", "everything"])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_any_text_is_a_known_key_or_an_invalid_one(text):
    with pytest.raises(keys.InvalidKey):
        keys.authenticate(text)
