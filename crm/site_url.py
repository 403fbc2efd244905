"""Is the site URL one that recipients can reach? (Tracking and opt-out links are built on it.)"""

import ipaddress
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

LOCAL_NAMES = {"localhost", "localhost.localdomain"}
LOCAL_SUFFIXES = (".local", ".localhost", ".internal", ".lan", ".test", ".invalid", ".example")


def _is_local_host(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES) or "." not in host
    return not address.is_global


def problems(url: str, production: bool) -> list[str]:
    """What is wrong with `url` as the base of links in emails, in plain words ([] if fine).

    A host recipients cannot reach (loopback, private network, single-label or reserved
    names) is always reported; plain http only in production.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [_("The site URL %(url)s is not a web address.") % {"url": url}]
    found = []
    if _is_local_host(parts.hostname):
        found.append(
            _(
                "The site URL %(url)s points to %(host)s, which recipients cannot reach: "
                "tracking and opt-out links in emails will not work for them."
            )
            % {"url": url, "host": parts.hostname}
        )
    if production and parts.scheme != "https":
        found.append(
            _("The site URL %(url)s is not https: links in emails would travel unencrypted.")
            % {"url": url}
        )
    return found
