"""Visual templates: the builder's MJML compiled on the server into the HTML that is sent.

MJML is compiled with MRML (the `mjml-python` package: Rust, no Node at run time), which keeps
MJML's Outlook (`mso`) conditional comments and its table layout. Web fonts are never added
(nothing in a message is fetched from a font service) and social icons come from our static
files at the site URL. The compiled HTML is stored as the template's HTML body when it is
saved, for everything that reads it (previews, plain text, test sends), and compiled again from
the MJML once per mass email when it is sent (campaigns.authoring.preparing).
"""

import mjml
from django.core.exceptions import ValidationError
from django.templatetags.static import static
from django.utils.translation import gettext as _

from campaigns.authoring.design_checks import check_design, check_mjml

SOCIAL_ICONS = "campaigns/builder/social/"


class MjmlError(ValueError):
    """MJML that cannot be compiled; the message says where."""


def icon_origin(base_url: str) -> str:
    """Where sent mail loads social icons from: our static files at the site URL."""
    url = static(SOCIAL_ICONS)
    return url if url.startswith(("http://", "https://")) else base_url.rstrip("/") + url


def compile_mjml(source: str, base_url: str) -> str:
    """The HTML of the MJML `source`; raises MjmlError when MRML cannot read it."""
    try:
        return mjml.mjml2html(source, fonts={}, social_icon_origin=icon_origin(base_url))
    except (ValueError, TypeError, RuntimeError) as exc:
        raise MjmlError(str(exc)) from exc


def compile_design(design, source: str, base_url: str) -> str:
    """The HTML body of a visual template whose project data is `design` and MJML `source`,
    both checked first (campaigns.authoring.design_checks). Raises ValidationError keyed by
    field ("design", "body_mjml")."""
    if not source.strip():
        raise ValidationError({"body_mjml": _("The design is empty: add a section first.")})
    check_design(design)
    check_mjml(source)
    try:
        return compile_mjml(source, base_url)
    except MjmlError as exc:
        message = _("The design could not be compiled: %(error)s")
        raise ValidationError({"body_mjml": message % {"error": exc}}) from exc


def sendable_html(template, base_url: str) -> str:
    """The HTML a mass email sends for `template`: its MJML checked and compiled again for a
    visual template (so the mail is what the design says, whatever else changed the stored
    HTML), its HTML body for a source one. Raises MjmlError."""
    if not template.is_visual:
        return template.body_html
    try:
        check_mjml(template.body_mjml)
    except ValidationError as exc:
        raise MjmlError(" ".join(exc.messages)) from exc
    return compile_mjml(template.body_mjml, base_url)
