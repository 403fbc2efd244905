"""Tracking URLs in templates: codes checked on save, and every link tracked at compile time.

`{trackingUrl:N}` codes are checked by campaigns.models.tracking_codes (on save, and when a mass
email is set to Pending). With "track all links", `track_links` turns each distinct http(s)
link of the HTML into a tracking URL of the campaign once per mass email (named from its link
text, reused by URL), so per recipient a tracked link is only a signed token filled in.
"""

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils.text import slugify

from campaigns.models import Campaign, TrackingUrl

HREF = re.compile(r"""(\bhref\s*=\s*)("[^"]*"|'[^']*'|[^\s>"']+)""", re.IGNORECASE)
WEB_URL = URLValidator(schemes=["http", "https"])
NAME_LENGTH = TrackingUrl._meta.get_field("name").max_length
URL_LENGTH = TrackingUrl._meta.get_field("url").max_length
# Where a URL written in plain text ends: a space, a closing bracket or quote, or punctuation
# that ends a sentence.
TEXT_URL_END = r"(?=[\s)>\]\"']|[.,;:!?](?:\s|$)|$)"


@dataclass(frozen=True)
class UtmTags:
    source: str
    medium: str
    campaign: str

    @classmethod
    def of(cls, mass_email) -> "UtmTags | None":
        """The tags a mass email adds to its tracked links, or None when it adds none."""
        if not mass_email.utm_tags:
            return None
        campaign = mass_email.campaign
        name = mass_email.utm_campaign or slugify(campaign.name) or f"campaign-{campaign.pk}"
        return cls(mass_email.utm_source or campaign.type, "email", name)

    def add_to(self, url: str) -> str:
        """`url` with the tags it does not have yet appended (its own are never changed)."""
        parts = urlsplit(url)
        present = {key for key, _value in parse_qsl(parts.query, keep_blank_values=True)}
        tags = {"utm_source": self.source, "utm_medium": self.medium, "utm_campaign": self.campaign}
        missing = urlencode({k: v for k, v in tags.items() if k not in present})
        if not missing:
            return url
        query = f"{parts.query}&{missing}" if parts.query else missing
        return urlunsplit(parts._replace(query=query))


@dataclass
class Link:
    start: int  # offset of the <a> tag in the HTML
    tag: str  # the tag as written
    href: str  # the href, entities decoded
    text: list[str]


class _LinkFinder(HTMLParser):
    """The <a href> tags of an HTML text with their offsets and link texts (or image alts)."""

    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.links: list[Link] = []
        self.open: Link | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        values = dict(attrs)
        if tag == "a":
            self.open = None
            if values.get("href") and "data-notrack" not in values:
                line, column = self.getpos()
                start = self.line_starts[line - 1] + column
                self.open = Link(start, self.get_starttag_text(), values["href"].strip(), [])
                self.links.append(self.open)
        elif tag == "img" and self.open is not None and values.get("alt"):
            self.open.text.append(values["alt"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self.open = None

    def handle_data(self, data: str) -> None:
        if self.open is not None:
            self.open.text.append(data)


def is_trackable(href: str) -> bool:
    """An absolute http(s) URL without placeholders (a per-recipient URL cannot be stored)."""
    if "{" in href or len(href) > URL_LENGTH or not href.lower().startswith(("http:", "https:")):
        return False
    try:
        WEB_URL(href)
    except ValidationError:
        return False
    return True


def _name(link: Link) -> str:
    text = " ".join(" ".join(link.text).split())
    return (text or link.href)[:NAME_LENGTH]


def _stored_url(href: str, utm: UtmTags | None) -> str:
    """The address a tracking URL stores for `href`: with the UTM tags, unless too long then."""
    tagged = utm.add_to(href) if utm else href
    return tagged if len(tagged) <= URL_LENGTH else href


def _tracking_ids(campaign: Campaign, links: list[Link], utm: UtmTags | None) -> dict[str, int]:
    """href -> tracking URL id, reusing the campaign's tracking URL of the same address."""
    wanted: dict[str, str] = {}  # stored URL -> name
    for link in links:
        wanted.setdefault(_stored_url(link.href, utm), _name(link))
    with transaction.atomic():
        # One compile at a time per campaign, so that two workers never make one URL twice.
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        found = {}
        for tracking_url in campaign.tracking_urls.filter(
            url__in=wanted, action=TrackingUrl.Action.REDIRECT
        ).order_by("pk"):
            found.setdefault(tracking_url.url, tracking_url.pk)
        for url, name in wanted.items():
            if url not in found:
                found[url] = TrackingUrl.objects.create(campaign=campaign, name=name, url=url).pk
    return {link.href: found[_stored_url(link.href, utm)] for link in links}


def track_links(html: str, campaign: Campaign, utm: UtmTags | None) -> tuple[str, dict[str, int]]:
    """`html` with each trackable link's href replaced by its {trackingUrl:N} code, and the
    map of original hrefs to ids. mailto:, tel:, anchors, placeholders ({optOutUrl},
    {webViewUrl}, codes) and links marked `data-notrack` stay as they are."""
    finder = _LinkFinder(html)
    finder.feed(html)
    finder.close()
    links = [
        link
        for link in finder.links
        if is_trackable(link.href) and html.startswith(link.tag, link.start)
    ]
    if not links:
        return html, {}
    ids = _tracking_ids(campaign, links, utm)
    out, position = [], 0
    for link in links:
        code = f'"{{trackingUrl:{ids[link.href]}}}"'
        tag = HREF.sub(lambda match, code=code: match.group(1) + code, link.tag, 1)
        out += [html[position : link.start], tag]
        position = link.start + len(link.tag)
    out.append(html[position:])
    return "".join(out), ids


def track_text_links(text: str, ids: dict[str, int]) -> str:
    """`text` with the URLs that `track_links` tracked in the HTML replaced by their codes."""
    for href in sorted(ids, key=len, reverse=True):
        pattern = re.compile(r"(?<![\w/])" + re.escape(href) + TEXT_URL_END)
        text = pattern.sub(f"{{trackingUrl:{ids[href]}}}", text)
    return text
