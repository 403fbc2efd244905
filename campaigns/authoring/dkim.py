"""DKIM signing (RFC 6376) of finished messages, rsa-sha256 with relaxed/relaxed.

`Signer.sign(message)` takes the message bytes exactly as they will be sent and returns them
with a DKIM-Signature header first, so it must be the last change made to a message. The RSA
operation is OpenSSL's (through `cryptography`); the canonicalisation is written here, after
RFC 6376 §3.4.2 and §3.4.4, and the tests verify every signature with dkimpy.
"""

import base64
import hashlib
import re
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.utils.translation import gettext as _

from crm import secrets

KEY_BITS = 2048
# Signed when present, in this order. From is listed twice so that no second From can be added
# without breaking the signature (RFC 6376 §8.15); a name absent from a message is left out.
SIGNED_HEADERS = (
    "from",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
)
WSP_RUN = re.compile(rb"[ \t]+")
# Only what relaxed canonicalisation changes: tabs, and runs of two or more spaces.
WSP_TO_SPACE = re.compile(rb"[ \t]*\t[ \t]*| {2,}")
TRAILING_WSP = re.compile(rb"[ \t]+\r\n")


class DkimError(Exception):
    """The key cannot sign (unreadable, or not an RSA private key); the message says why."""


def generate_private_key() -> str:
    """A new 2048-bit RSA private key, PEM (PKCS#8)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """The RSA key in `pem`; raises DkimError for anything else or a key under 1024 bits."""
    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise DkimError(_("This is not a PEM private key without a passphrase.")) from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 1024:
        raise DkimError(_("DKIM needs an RSA private key of at least 1024 bits (2048 is best)."))
    return key


def public_key_record(pem: str) -> str:
    """The p= value of the DNS record: the public key, DER SubjectPublicKeyInfo in base64."""
    der = (
        load_private_key(pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode("ascii")


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 §3.4.4: runs of spaces and tabs to one space, none at line ends, no empty lines
    at the end, and a final CRLF unless the body is empty."""
    # Searching first is far cheaper than substituting: most bodies need no change.
    if b" \r\n" in body or b"\t\r\n" in body:
        body = TRAILING_WSP.sub(b"\r\n", body)
    if b"\t" in body or b"  " in body:
        body = WSP_TO_SPACE.sub(b" ", body)
    body = body.rstrip(b"\r\n")
    return body + b"\r\n" if body else b""


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """RFC 6376 §3.4.2: name in lower case, value unfolded with runs of WSP as one space."""
    value = WSP_RUN.sub(b" ", value.replace(b"\r\n", b"")).strip(b" ")
    return name.strip().lower() + b":" + value


def split_headers(head: bytes) -> list[tuple[bytes, bytes]]:
    """The header fields of `head` (without the blank line) as (name, raw value) pairs."""
    return [field.partition(b":")[::2] for field in _fields(head)]


def _fields(head: bytes) -> list[bytes]:
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        elif line:
            fields.append(line)
    return fields


def _selected(fields: list[tuple[bytes, bytes]]) -> tuple[list[bytes], list[bytes]]:
    """The h= names and their canonical fields; a repeated name takes the last one first."""
    by_name: dict[bytes, list[bytes]] = {}
    for name, value in fields:
        by_name.setdefault(name.strip().lower(), []).append(relaxed_header(name, value))
    names, canonical = [], []
    for wanted in SIGNED_HEADERS:
        instances = by_name.get(wanted.encode(), [])
        for field in reversed(instances):
            names.append(wanted.encode())
            canonical.append(field)
    if b"from" in by_name:
        names.append(b"from")  # the over-signed From: no second one can be added
    return names, canonical


def _fold_names(names: list[bytes]) -> bytes:
    """The h= value, folded after a colon so that no line passes 78 characters."""
    lines, line = [], b""
    for name in names:
        if line and len(line) + len(name) > 70:
            lines.append(line)
            line = b""
        line += (b":" if line or lines else b"") + name
    return b"\r\n ".join([*lines, line])


class Signer:
    """Signs messages for `domain` with the key published at `selector`._domainkey.`domain`."""

    def __init__(self, domain: str, selector: str, private_key_pem: str):
        self.domain = domain
        self.selector = selector
        self.key = load_private_key(private_key_pem)

    @classmethod
    def for_key(cls, dkim_key) -> "Signer":
        """The signer of a stored DkimKey; raises DkimError when its key cannot be read."""
        try:
            pem = dkim_key.private_key_pem
        except secrets.SecretUnreadable as exc:
            message = _("The DKIM key of %(domain)s cannot be decrypted with this SECRET_KEY.")
            raise DkimError(message % {"domain": dkim_key.domain}) from exc
        return cls(dkim_key.domain, dkim_key.selector, pem)

    def sign(self, message: bytes, now: int | None = None) -> bytes:
        """`message` (CRLF line ends, headers, a blank line, the body) with its signature."""
        head, _blank, body = message.partition(b"\r\n\r\n")
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
        names, canonical = _selected(split_headers(head))
        tags = (
            b"v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=%s;\r\n t=%d; h=%s;\r\n bh=%s;\r\n b="
            % (
                self.domain.encode("idna"),
                self.selector.encode("ascii"),
                int(time.time()) if now is None else now,
                _fold_names(names),
                body_hash,
            )
        )
        signed = b"\r\n".join(canonical) + b"\r\n" + relaxed_header(b"DKIM-Signature", tags)
        signature = base64.b64encode(self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256()))
        folded = b"\r\n ".join(signature[i : i + 72] for i in range(0, len(signature), 72))
        return b"DKIM-Signature: " + tags + folded + b"\r\n" + message
