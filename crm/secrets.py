"""Encryption at rest for stored credentials (SMTP and IMAP passwords).

The key is derived from SECRET_KEY; SECRET_KEY_FALLBACKS keep old ciphertexts readable after a
key rotation. A value that no key can read raises SecretUnreadable, never returns garbage.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored secret was encrypted with a key this installation no longer has."""


def _fernet_for(secret_key: str) -> Fernet:
    digest = hashlib.sha256(f"massmail.secrets:{secret_key}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return MultiFernet([_fernet_for(key) for key in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode() if plaintext else ""


def decrypt(ciphertext: str) -> str:
    """The plaintext of `ciphertext`; raises SecretUnreadable if no known key opens it."""
    if not ciphertext:
        return ""
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("stored secret cannot be decrypted with SECRET_KEY") from exc
