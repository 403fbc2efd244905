"""Signed tokens for the public URLs and headers that carry a queue item's identity.

A token is the ids in base 36 joined by '-', a '.', and a truncated HMAC-SHA256 over the kind
and the ids, e.g. `2n9c-1f.Vb3dyM0v2yvVaPqFz9X0Qw`. The kind (open, click, opt-out, header,
VERP) is part of the MAC, so a token made for one use is refused for another, and a click token
names its tracking URL, so it cannot be replayed against another link. Tokens stay valid as
long as SECRET_KEY (or one of SECRET_KEY_FALLBACKS) does; they carry no expiry on purpose:
people unsubscribe from mail that is years old.
"""

import base64
import hashlib
import hmac
from functools import lru_cache

from django.conf import settings

OPEN = "open"
CLICK = "click"
OPT_OUT = "opt-out"
HEADER = "header"
VERP = "verp"
SIGNUP_FORM = "signup-form"  # a signup form's POST: form id, issue time, nonce (people.signup)
SIGNUP_CONFIRM = "signup-confirm"  # a double opt-in link: confirmation id, issue time
KINDS = (OPEN, CLICK, OPT_OUT, HEADER, VERP, SIGNUP_FORM, SIGNUP_CONFIRM)
MAC_BYTES = 16
HONEYPOT_LINK_ID = 0  # the hidden link's id in CLICK tokens; no TrackingUrl has id 0
# What a token looks like, to find one in text (a returned message, an ESP's event); only
# read() says whether it is valid.
PATTERN = r"[0-9a-z]+(?:-[0-9a-z]+)*\.[A-Za-z0-9_-]+"


class BadToken(ValueError):
    """The token is malformed, forged, altered, or made for another kind of use."""


@lru_cache(maxsize=32)
def _keyed(secret: str, kind: str) -> hmac.HMAC:
    # Keyed once; copying the prepared state per token skips re-keying (two hash blocks).
    key = hashlib.sha256(f"massmail.tokens.{kind}:{secret}".encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def _mac(secret: str, kind: str, payload: str) -> str:
    mac = _keyed(secret, kind).copy()
    mac.update(payload.encode())
    digest = mac.digest()
    return base64.urlsafe_b64encode(digest[:MAC_BYTES]).rstrip(b"=").decode()


def _base36(number: int) -> str:
    if number < 0:
        raise ValueError("ids are positive")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def make(kind: str, *ids: int) -> str:
    """A token for `kind` naming `ids` (a queue item id, then e.g. a tracking URL id)."""
    if kind not in KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    payload = "-".join(_base36(i) for i in ids)
    return f"{payload}.{_mac(settings.SECRET_KEY, kind, payload)}"


def read(kind: str, token: str, count: int = 1) -> tuple[int, ...]:
    """The ids a valid `kind` token names; raises BadToken otherwise."""
    payload, dot, mac = token.partition(".")
    if not dot or len(token) > 200:
        raise BadToken("malformed token")
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        if hmac.compare_digest(mac, _mac(secret, kind, payload)):
            break
    else:
        raise BadToken("token signature does not match")
    try:
        ids = tuple(int(part, 36) for part in payload.split("-"))
    except ValueError as exc:
        raise BadToken("malformed token") from exc
    if len(ids) != count:
        raise BadToken("token names the wrong number of ids")
    return ids


def read_or_none(kind: str, token: str, count: int = 1) -> tuple[int, ...] | None:
    """read(), with None for a token that is not valid (the caller answers "not ours")."""
    try:
        return read(kind, token, count)
    except BadToken:
        return None
