"""A template made ready for one mass email, once, before it is split into slots.

In this order: a visual template's MJML is compiled into HTML (campaigns.authoring.visual);
the CSS of `<style>` blocks is inlined into the elements' style attributes with css-inline
(media queries and other at-rules stay in a `<style>` block of the head, for the mail apps that
read them); the "View in browser" line and the hidden preheader are put first in the body; with
"track all links", each web link becomes a tracking URL of the campaign
(campaigns.authoring.link_tracking). All of it happens at compile time, so sending speed is
unchanged.
"""

import html
import re
from dataclasses import dataclass

import css_inline
from django.utils.translation import gettext

from campaigns.authoring import link_tracking, visual
from campaigns.authoring.html_body import BODY_START

# Hidden in every mail app, yet read as the preview text after the subject.
PREHEADER_TAG = (
    '<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;'
    'opacity:0;overflow:hidden;mso-hide:all;">{text}</div>'
)
WEB_VIEW_LINE = (
    '<p style="font-size:12px;color:#666666;text-align:center;margin:0 0 12px;">'
    '<a href="{webViewUrl}" style="color:#666666;">{label}</a></p>'
)
STYLE_BLOCK = re.compile(r"<style\b", re.IGNORECASE)
# Links are never fetched: a template must not make the sender reach out to the network.
INLINER = css_inline.CSSInliner(
    keep_at_rules=True, keep_link_tags=True, load_remote_stylesheets=False
)


class InliningError(ValueError):
    """css-inline could not read the template's CSS; the message says where."""


@dataclass(frozen=True)
class PreparedTemplate:
    """What slots.body_pieces reads: the template's name and bodies as they will be sent."""

    name: str
    subject: str
    body_html: str
    body_text: str


def inline_css(source: str) -> str:
    """`source` with its `<style>` rules inlined; the HTML comes back unchanged without one.
    Raises InliningError."""
    if not STYLE_BLOCK.search(source):
        return source
    try:
        return INLINER.inline(source)
    except ValueError as exc:
        raise InliningError(str(exc)) from exc


def insert_at_body_start(source: str, fragment: str) -> str:
    """`fragment` just inside `<body>`, or first when `source` has no body tag."""
    body = BODY_START.search(source)
    at = body.end() if body else 0
    return source[:at] + fragment + source[at:]


def dressed_html(source: str, preheader: str, *, web_view_link: bool = False) -> str:
    """`source` as recipients get it before links are tracked: CSS inlined, the hidden
    preheader and the "View in browser" line first in the body. Raises InliningError.
    The template previews show this too, so what the marketer sees is what is sent."""
    source = inline_css(source)
    top = ""
    if web_view_link:
        label = html.escape(gettext("View this email in your browser"))
        top = WEB_VIEW_LINE.replace("{label}", label)
    if preheader.strip():
        top = PREHEADER_TAG.replace("{text}", html.escape(preheader, quote=False)) + top
    return insert_at_body_start(source, top) if top else source


def prepare(mass_email, *, tracked: bool, base_url: str) -> PreparedTemplate:
    """The mass email's template ready to split. Raises InliningError for CSS it cannot read,
    visual.MjmlError for a design that cannot be compiled.

    `tracked`: whether this mass email tracks links at all (not Informational); `base_url`: the
    site URL (a design's social icons are served there)."""
    template = mass_email.email_template
    source, text = visual.sendable_html(template, base_url), template.body_text
    if mass_email.web_view_link and text.strip():
        text = f"{gettext('View this email in your browser')}: {{webViewUrl}}\n\n{text}"
    if source.strip():
        source = dressed_html(source, template.preheader, web_view_link=mass_email.web_view_link)
        if tracked and mass_email.track_all_links:
            utm = link_tracking.UtmTags.of(mass_email)
            source, ids = link_tracking.track_links(source, mass_email.campaign, utm)
            text = link_tracking.track_text_links(text, ids)
    return PreparedTemplate(template.name, template.subject, source, text)
