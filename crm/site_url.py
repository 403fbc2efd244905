"""Is the site URL one that recipients can reach? (Tracking and opt-out links are built on it.)

`problems` judges the URL by its look; `check_reachable` asks it: this installation answers
`<site URL>/site-check/` with a value derived from SECRET_KEY, so a URL that leads to another
server, or nowhere, is told apart from one that leads here.
"""

import ipaddress
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

CHECK_TIMEOUT = 5.0

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


def identity() -> str:
    """What this installation answers at /site-check/ (reveals nothing about SECRET_KEY)."""
    return salted_hmac("massmail.site-check", "this installation", algorithm="sha256").hexdigest()


def check_reachable(base_url: str, timeout: float = CHECK_TIMEOUT) -> str:
    """'' if `base_url` leads to this installation, else what went wrong, in plain words."""
    url = base_url.rstrip("/") + reverse("site_check")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read(200).decode(errors="replace").strip()
    except urllib.error.HTTPError as exc:
        message = _("The site URL check got %(code)s %(reason)s from %(url)s: not this site.")
        return message % {"url": url, "code": exc.code, "reason": exc.reason}
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return _("The site URL check could not reach %(url)s from this server: %(reason)s") % {
            "url": url,
            "reason": reason,
        }
    if body != identity():
        message = _("The site URL check reached %(url)s, but it is another site, not this one.")
        return message % {"url": url}
    return ""
