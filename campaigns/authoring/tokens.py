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
import re
from functools import lru_cache

from django.conf import settings

OPEN = "open"
CLICK = "click"
OPT_OUT = "opt-out"
HEADER = "header"
VERP = "verp"
WEB_VIEW = "web-view"
SIGNUP_FORM = "signup-form"  # a signup form's POST: form id, issue time, nonce (people.signup)
SIGNUP_CONFIRM = "signup-confirm"  # a double opt-in link: confirmation id, issue time
KINDS = (OPEN, CLICK, OPT_OUT, HEADER, VERP, WEB_VIEW, SIGNUP_FORM, SIGNUP_CONFIRM)
MAC_BYTES = 16
HONEYPOT_LINK_ID = 0  # the hidden link's id in CLICK tokens; no TrackingUrl has id 0
# What a token looks like, to find one in text (a returned message, an ESP's event); only
# read() says whether it is valid.
PATTERN = r"[0-9a-z]+(?:-[0-9a-z]+)*\.[A-Za-z0-9_-]+"
_SHAPE = re.compile(PATTERN, re.ASCII)
# A VERP token written by make_verp(): base 36 id, '.', the MAC in lower-case base 32, so the
# address still verifies after a server on the way back lower-cased (or upper-cased) it.
VERP_PATTERN = r"[0-9a-zA-Z]+\.[A-Za-z0-9_-]+"
VERP_MAC_LENGTH = 26  # 16 bytes in base 32, unpadded


class BadToken(ValueError):
    """The token is malformed, forged, altered, or made for another kind of use."""


@lru_cache(maxsize=32)
def _keyed(secret: str, kind: str) -> tuple["hashlib._Hash", "hashlib._Hash"]:
    """The HMAC-SHA256 (RFC 2104) of the kind's key, keyed once: SHA-256 states that have
    absorbed the key's inner and outer pad. Copying them per token is half the cost of
    copying an hmac.HMAC (a mass email makes several tokens per message)."""
    key = hashlib.sha256(f"massmail.tokens.{kind}:{secret}".encode()).digest()
    block = key.ljust(hashlib.sha256().block_size, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in block))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in block))
    return inner, outer


def _digest(secret: str, kind: str, payload: str) -> bytes:
    """HMAC-SHA256 of `payload` under the kind's key (equal to hmac.new(key, payload))."""
    inner, outer = _keyed(secret, kind)
    inner, outer = inner.copy(), outer.copy()
    inner.update(payload.encode())
    outer.update(inner.digest())
    return outer.digest()


def _mac(secret: str, kind: str, payload: str) -> str:
    digest = _digest(secret, kind, payload)
    return base64.urlsafe_b64encode(digest[:MAC_BYTES]).rstrip(b"=").decode()


@lru_cache(maxsize=4096)  # a message's tokens all name its item; its links' ids repeat
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
    # Any string may arrive here from a URL or a header: only what make() can produce is read
    # further (compare_digest refuses non-ASCII str, and int() takes "+1" or " 1").
    if not isinstance(token, str) or len(token) > 200 or not _SHAPE.fullmatch(token):
        raise BadToken("malformed token")
    payload, _dot, mac = token.partition(".")
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        if hmac.compare_digest(mac.encode(), _mac(secret, kind, payload).encode()):
            break
    else:
        raise BadToken("token signature does not match")
    ids = tuple(int(part, 36) for part in payload.split("-"))
    if len(ids) != count:
        raise BadToken("token names the wrong number of ids")
    return ids


def read_or_none(kind: str, token: str, count: int = 1) -> tuple[int, ...] | None:
    """read(), with None for a token that is not valid (the caller answers "not ours")."""
    try:
        return read(kind, token, count)
    except BadToken:
        return None


def _verp_mac(secret: str, payload: str) -> str:
    digest = _digest(secret, VERP, payload)
    return base64.b32encode(digest[:MAC_BYTES]).rstrip(b"=").decode().lower()


def make_verp(item_id: int) -> str:
    """The VERP token of a queue item: case-insensitive, e.g. `2n9c.ve3dym0v2yvva…` (26)."""
    payload = _base36(item_id)
    return f"{payload}.{_verp_mac(settings.SECRET_KEY, payload)}"


def read_verp(token: str) -> int | None:
    """The queue item a VERP token names, whatever its letters' case; None when it is not a
    valid one. Tokens of the older case-sensitive form (make(VERP, id)) are read too."""
    if len(token) > 200 or not token.isascii():
        return None  # e.g. the Kelvin sign, which a case-insensitive search takes for "k"
    payload, dot, mac = token.lower().partition(".")
    # compare_digest refuses non-ASCII text: such a token is simply not ours.
    if dot and len(mac) == VERP_MAC_LENGTH and f"{payload}{mac}".isascii() and payload.isalnum():
        for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
            if hmac.compare_digest(mac, _verp_mac(secret, payload)):
                return int(payload, 36)
        return None
    ids = read_or_none(VERP, token)
    return ids[0] if ids else None
