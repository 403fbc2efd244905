"""Making and checking API keys.

A key reads `mm_<prefix>_<secret>`: the prefix (8 letters and digits) finds the stored row,
the secret is 256 random bits. Only the SHA-256 of the whole key is stored; a presented key is
found by its prefix and its hash compared in constant time. With that much entropy a fast hash
is as safe as a slow one, and checking a key costs microseconds.
"""

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from api import scopes as scope_names
from api.models import ApiKey

KEY_START = "mm_"
PREFIX_LENGTH = 8
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
MAX_KEY_LENGTH = 100
LAST_USED_EVERY = timedelta(minutes=1)  # last use is written at most this often per key


class InvalidKey(Exception):
    """The presented key is malformed, unknown, revoked, expired or its user is inactive; the
    message says which (the API answers 401)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class NewKey:
    """A key just made: the row and the only copy of the key itself."""

    api_key: ApiKey
    key: str


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_prefix() -> str:
    return "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))


def create_key(
    name: str,
    user: AbstractBaseUser,
    scopes: list[str],
    *,
    expires_at: datetime | None = None,
    created_by: AbstractBaseUser | None = None,
    rate_per_minute: int | None = None,
) -> NewKey:
    """Make a key for `user` with `scopes`; raises scopes.UnknownScope. The returned key is
    the only time it can be read."""
    checked = scope_names.checked(scopes)
    for _attempt in range(5):
        prefix = _new_prefix()
        key = f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                row = ApiKey.objects.create(
                    name=name[:100],
                    user=user,
                    prefix=prefix,
                    key_hash=key_hash(key),
                    scopes=checked,
                    expires_at=expires_at,
                    created_by=created_by,
                    rate_per_minute=rate_per_minute,
                )
        except IntegrityError:
            continue  # that prefix was taken (1 in 36^8): draw another
        return NewKey(row, key)
    raise RuntimeError("could not draw an unused key prefix")


def prefix_of(key: str) -> str:
    """The prefix of a well-formed key; raises InvalidKey for any other text."""
    if (
        len(key) > MAX_KEY_LENGTH
        or not key.startswith(KEY_START)
        or len(key) < len(KEY_START) + PREFIX_LENGTH + 2
        or key[len(KEY_START) + PREFIX_LENGTH] != "_"
    ):
        raise InvalidKey("This is not an API key of this installation.", "invalid_key")
    prefix = key[len(KEY_START) : len(KEY_START) + PREFIX_LENGTH]
    if any(character not in PREFIX_ALPHABET for character in prefix):
        raise InvalidKey("This is not an API key of this installation.", "invalid_key")
    return prefix


def authenticate(key: str) -> ApiKey:
    """The active key row `key` belongs to, with its user; raises InvalidKey."""
    prefix = prefix_of(key)
    row = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if row is None or not hmac.compare_digest(row.key_hash, key_hash(key)):
        raise InvalidKey("This API key is not known.", "invalid_key")
    if not row.is_active:
        raise InvalidKey("This API key has been revoked.", "key_revoked")
    if row.is_expired:
        raise InvalidKey("This API key has expired.", "key_expired")
    if not row.user.is_active:
        raise InvalidKey("The user of this API key is inactive.", "key_user_inactive")
    _note_use(row)
    return row


def _note_use(row: ApiKey) -> None:
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        ApiKey.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
