"""Email addresses as mail servers see them: checked where they enter, encoded for SMTP.

An address is accepted when SMTP can carry it (RFC 5321, with RFC 6531's UTF-8 local parts and
RFC 5890's internationalised domain names): a local part of at most 64 octets, a domain that
IDNA (UTS #46) can turn into an A-label (`exämple.com` → `xn--exmple-cua.com`), and at most 254
octets in all as sent. `problem()` names what is wrong in a sentence; `for_smtp()` gives the
form the envelope and the To header use, and whether the server must offer SMTPUTF8 for it.
The same check runs in the admin forms, the models, reports, the log-to-list action and the
sender, so an address that was stored can always be tried, and one that cannot be is refused
with its reason instead of breaking a page or a run.
"""

import re
from dataclasses import dataclass

import idna
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MAX_LENGTH = 254  # RFC 5321: a path is at most 256 octets, angle brackets included
MAX_LOCAL_LENGTH = 64
MAX_DOMAIN_LENGTH = 253
# RFC 5322 atext, plus any non-ASCII character (RFC 6531's UTF8-non-ascii).
ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010FFFF]+"
DOT_ATOM = re.compile(rf"{ATOM}(?:\.{ATOM})*")
# A quoted local part: printable characters, escaped quotes and backslashes, no controls.
QUOTED = re.compile(r'"(?:[^"\\\x00-\x1f\x7f]|\\[\x20-\x7e])*"')
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LITERAL = re.compile(r"\[(?:\d{1,3}(?:\.\d{1,3}){3}|IPv6:[0-9A-Fa-f:.]+)\]")


class AddressError(ValueError):
    """An address SMTP cannot carry; str() says why, in the marketer's words."""


@dataclass(frozen=True)
class SmtpAddress:
    """An address as sent: the domain as A-label; `needs_smtputf8` if the local part is not
    ASCII (only a server offering SMTPUTF8 may receive it)."""

    address: str
    needs_smtputf8: bool


def for_smtp(address: str) -> SmtpAddress:
    """The SMTP form of `address`; raises AddressError naming the problem."""
    address = address.strip()
    if CONTROL.search(address):
        raise AddressError(_("The address contains control characters."))
    local, at, domain = address.rpartition("@")
    if not at or not local:
        raise AddressError(_("“%(address)s” is not an email address (no @).") % _of(address))
    if not domain:
        raise AddressError(_("The address %(address)s has no domain.") % _of(address))
    _check_local(local, address)
    ascii_domain = _ascii_domain(domain, address)
    smtp_form = f"{local}@{ascii_domain}"
    if len(smtp_form.encode()) > MAX_LENGTH:
        raise AddressError(
            _("The address is too long: %(length)s characters, at most %(limit)s.")
            % {"length": len(smtp_form.encode()), "limit": MAX_LENGTH}
        )
    return SmtpAddress(smtp_form, needs_smtputf8=not local.isascii())


def problem(address: str) -> str:
    """Why `address` cannot be mailed, in one sentence; '' when it can."""
    try:
        for_smtp(address)
    except AddressError as exc:
        return str(exc)
    return ""


def validate_address(address: str) -> None:
    """Django validator for address fields; raises ValidationError with the problem."""
    reason = problem(address)
    if reason:
        raise ValidationError(reason, code="invalid")


def _check_local(local: str, address: str) -> None:
    if len(local.encode()) > MAX_LOCAL_LENGTH:
        raise AddressError(
            _("The part before @ of %(address)s is longer than %(limit)s characters.")
            % {"address": _shortened(address), "limit": MAX_LOCAL_LENGTH}
        )
    if not (DOT_ATOM.fullmatch(local) or QUOTED.fullmatch(local)):
        raise AddressError(
            _("The part before @ of %(address)s has characters an address cannot have.")
            % _of(address)
        )


def _ascii_domain(domain: str, address: str) -> str:
    if LITERAL.fullmatch(domain):
        return domain
    try:
        if not domain.isascii():
            ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
        else:
            ascii_domain = domain
            for label in domain.lower().split("."):
                if label.startswith("xn--"):
                    idna.decode(label)  # an A-label must decode to a valid U-label
    except (idna.IDNAError, UnicodeError) as exc:
        raise AddressError(
            _("The domain of %(address)s cannot be written for mail servers (IDNA): %(why)s")
            % {"address": _shortened(address), "why": exc}
        ) from exc
    labels = ascii_domain.split(".")
    valid_label = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
    if (
        len(ascii_domain) > MAX_DOMAIN_LENGTH
        or not all(valid_label.fullmatch(label) for label in labels)
        or (len(labels) < 2 and ascii_domain.lower() != "localhost")
    ):
        raise AddressError(_("The domain of %(address)s is not a valid domain.") % _of(address))
    return ascii_domain


def _of(address: str) -> dict:
    return {"address": _shortened(address)}


def _shortened(address: str) -> str:
    # Messages quote the address; a 10 KB one would drown the sentence.
    return address if len(address) <= 80 else f"{address[:60]}…{address[-15:]}"
