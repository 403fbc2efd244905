"""Is an address usable? One small function, to be swapped for crm.addresses when it lands.

Django's EmailValidator rules (with IDNA domains), the 254-character limit of RFC 5321, and a
cache per domain: an import of a million rows repeats few domains.
"""

import re
from functools import lru_cache

from django.core.validators import EmailValidator
from django.utils.translation import gettext as _

MAX_LENGTH = 254
MAX_LOCAL_LENGTH = 64
_validator = EmailValidator()
# Compiled here: Django's own is a lazy object, which costs a proxy call per address.
_USER = re.compile(_validator.user_regex.pattern, _validator.user_regex.flags)


@lru_cache(maxsize=4096)
def _domain_ok(domain: str) -> bool:
    return _validator.validate_domain_part(domain)


def address_problem(address: str) -> str:
    """Why `address` cannot receive mail, in words for the marketer; '' when it is fine."""
    if not address:
        return _("no email address")
    if len(address) > MAX_LENGTH:
        return _("email address too long (more than 254 characters)")
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return _("not an email address: %(address)s") % {"address": address}
    if not domain or "." not in domain:
        return _("email address without a domain: %(address)s") % {"address": address}
    if len(local) > MAX_LOCAL_LENGTH:
        return _("email address too long before the @ (more than 64 characters)")
    if not _USER.match(local) or not _domain_ok(domain):
        return _("not a valid email address: %(address)s") % {"address": address}
    return ""
