"""A mass email's subject and bodies as literal text and per-recipient slots, built once.

A template's placeholders (crm.placeholders.split) are expanded for one context, HTML body
("h"), plain-text body ("t") or subject ("s"): built-ins and everything fixed for the mass email
become literal text; a person field becomes a slot for its (escaped) value; a link becomes
literal text around a slot for its signed token only, e.g. `https://site/t/c/` + token + `/`.
So per recipient only the person fields and the tokens are computed and encoded.
"""

import html
from dataclasses import dataclass

from django.urls import reverse

from campaigns.authoring import html_body, mime, tokens
from crm import placeholders
from crm.placeholders import Placeholder

PIXEL = Placeholder("openPixel")  # the open pixel's place, never written in a template
HIDDEN_LINK = Placeholder("hiddenLink")  # the honeypot's place, never written in a template
OPT_OUT_NAMES = ("optOutUrl", "optOutLink")
OPT_OUT_PARAGRAPH = '\r\n<p style="font-size:12px;color:#666666;">{optOutLink}</p>\r\n'
PIXEL_TAG = '<img src="{url}" width="1" height="1" alt="" style="border:0;width:1px;height:1px;">'
# A link no person sees or reaches by keyboard; scanners that follow every link hit it. Empty:
# a zero-width character in it reads as obfuscated text to spam filters (HTML_OBFUSCATE_*).
HIDDEN_LINK_TAG = '<a href="{url}" style="display:none" aria-hidden="true" tabindex="-1"></a>'
WEB_VIEW = "webViewUrl"
LINK_NAMES = (*OPT_OUT_NAMES, PIXEL.name, HIDDEN_LINK.name, WEB_VIEW)
MARKER = "TOKENMARKER"
OPT_OUT_TOKEN = "token|opt-out"
OPEN_TOKEN = "token|open"
WEB_VIEW_TOKEN = "token|web-view"


def click_token(tracking_id: int) -> str:
    return f"token|click:{tracking_id}"


@dataclass(frozen=True)
class Slot:
    key: str


@dataclass(frozen=True)
class TokenUrl:
    """A URL split around its token once, so no reverse() is needed per recipient."""

    before: str
    after: str

    @classmethod
    def named(cls, base_url: str, url_name: str) -> "TokenUrl":
        before, after = (base_url + reverse(url_name, args=[MARKER])).split(MARKER)
        return cls(before, after)

    def pieces(self, context: str, token_key: str) -> list:
        if context == "h":
            return [html.escape(self.before), Slot(token_key), html.escape(self.after)]
        return [self.before, Slot(token_key), self.after]

    def __call__(self, token: str) -> str:
        return self.before + token + self.after


class Links:
    """How the mass email's links expand: tracked per recipient, or fixed (Informational)."""

    def __init__(self, base_url: str, tracking_urls: dict[int, str], *, tracked: bool, label: str):
        self.tracked = tracked
        self.tracking_urls = tracking_urls  # id -> stored URL
        self.label = label
        self.opt_out = TokenUrl.named(base_url, "tracking:opt_out")
        self.one_click = TokenUrl.named(base_url, "tracking:one_click")
        self.click = TokenUrl.named(base_url, "tracking:click")
        self.open = TokenUrl.named(base_url, "tracking:open")
        self.web_view = TokenUrl.named(base_url, "web_view")

    def expand(self, name: str, context: str) -> list:
        """The pieces that stand for link placeholder `name` in `context`."""
        if name == WEB_VIEW:  # not tracking: Informational emails have a web view too
            return self.web_view.pieces(context, WEB_VIEW_TOKEN)
        tracking_id = Placeholder(name).tracking_url_id
        if not self.tracked:
            stored = self.tracking_urls.get(tracking_id, "") if tracking_id is not None else ""
            return [html.escape(stored) if context == "h" else stored]
        if tracking_id is not None:
            return self.click.pieces(context, click_token(tracking_id))
        if name == "optOutUrl":
            return self.opt_out.pieces(context, OPT_OUT_TOKEN)
        if name == "optOutLink" and context == "h":
            before, slot, after = self.opt_out.pieces(context, OPT_OUT_TOKEN)
            return [f'<a href="{before}', slot, f'{after}">{html.escape(self.label)}</a>']
        if name == "optOutLink":
            return [f"{self.label}: ", *self.opt_out.pieces(context, OPT_OUT_TOKEN)]
        if name == HIDDEN_LINK.name:
            tag = HIDDEN_LINK_TAG
            before, slot, after = self.click.pieces("h", click_token(tokens.HONEYPOT_LINK_ID))
        else:
            tag = PIXEL_TAG
            before, slot, after = self.open.pieces("h", OPEN_TOKEN)
        tag_before, tag_after = tag.split("{url}")
        return [tag_before + before, slot, after + tag_after]


def _split_at(text: str, inserts: list[tuple[int, list]]) -> list:
    """The pieces of `text`, each insert's pieces put at its offset (never inside a placeholder)."""
    pieces, start = [], 0
    for offset, extra in sorted(inserts, key=lambda insert: insert[0]):
        pieces += placeholders.split(text[start:offset]) + extra
        start = offset
    return pieces + placeholders.split(text[start:])


def body_pieces(
    template, *, append_opt_out: bool, open_pixel: bool, hidden_link: bool
) -> dict[str, list]:
    """Literal and placeholder pieces per body subtype ("plain", "html"), CRLF line endings.

    Parses the HTML once: for the plain-text version when the template has none, and to see
    whether it already shows an opt-out link. With `hidden_link`, an HTML body with a tracked
    link gets the honeypot before its first one. Raises PlaceholderError for a bad placeholder.
    """
    has_html = bool(template.body_html.strip())
    text = template.body_text if template.body_text.strip() else ""
    shows_opt_out = False
    if has_html:  # one parse for both questions (a large design's HTML takes a while)
        soup = html_body.parse(template.body_html)
        shows_opt_out = not append_opt_out or html_body.has_opt_out_link(soup)
        if not text:
            text = html_body.to_plain_text(soup)
    bodies = {}
    if text:
        text = crlf(text)
        if append_opt_out and not any(f"{{{name}}}" in text for name in OPT_OUT_NAMES):
            text += "\r\n{optOutLink}\r\n"
        bodies["plain"] = placeholders.split(text)
    if has_html:
        source = crlf(template.body_html)
        appended = []
        if append_opt_out and not shows_opt_out:
            appended = placeholders.split(OPT_OUT_PARAGRAPH)
        appended += [PIXEL] if open_pixel else []
        inserts = [(len(html_body.split_at_body_end(source)[0]), appended)]
        hidden_at = html_body.hidden_link_offset(source) if hidden_link else None
        if hidden_at is not None:
            inserts.insert(0, (hidden_at, [HIDDEN_LINK]))  # first when both fall at one offset
        bodies["html"] = _split_at(source, inserts)
    return bodies


def crlf(text: str) -> str:
    """`text` with CRLF line endings and a final CRLF (quoted-printable relies on both)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    return text if text.endswith("\r\n") else text + "\r\n"


def is_link(name: str) -> bool:
    return name in LINK_NAMES or name.startswith("trackingUrl:")


def expand(pieces: list, context: str, links: Links) -> list:
    """`pieces` with every placeholder replaced by literal text and/or a Slot."""
    out: list = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif piece.name in placeholders.BUILTINS:
            value = placeholders.builtin_value(piece.name)
            out.append(html.escape(value) if context == "h" else value)
        elif is_link(piece.name):
            out += links.expand(piece.name, context)
        else:
            out.append(Slot(f"{context}|{field_key(piece)}"))
    return out


def field_key(piece: Placeholder) -> str:
    """A person field's slot name without its context: the name, then the fallback in hex (so
    that any fallback text stays a valid %-format key)."""
    if piece.fallback is None:
        return piece.name
    return f"{piece.name}|{piece.fallback.encode().hex()}"


def parse_field_key(key: str) -> tuple[str, str | None]:
    """The placeholder name and fallback that field_key(…) made `key` from."""
    name, bar, fallback = key.partition("|")
    return name, bytes.fromhex(fallback).decode() if bar else None


def to_format(expanded: list) -> str:
    """`expanded` as a %-format string with a %(key)s slot per Slot."""
    return "".join(
        f"%({piece.key})s" if isinstance(piece, Slot) else piece.replace("%", "%%")
        for piece in expanded
    )


def to_encoded_format(expanded: list, keys: set[str]) -> bytes:
    """`expanded` as a quoted-printable bytes %-format: literal runs encoded now, each ending in
    a soft line break, and a slot per Slot (its key added to `keys`) for the encoded value."""
    out, literal = [], []
    for piece in expanded:
        if not isinstance(piece, Slot):
            literal.append(piece)
            continue
        keys.add(piece.key)
        out += [mime.literal(mime.qp_chunk("".join(literal))), f"%({piece.key})s".encode()]
        literal = []
    out.append(mime.literal(mime.qp_chunk("".join(literal))))
    return b"".join(out)
