"""What the sender learns from a template's HTML body, once per mass email, with BeautifulSoup.

Placeholders such as `{trackingUrl:5}` are plain text to the parser, so they come through the
plain-text version untouched and are filled per recipient like any other slot.
"""

import re

from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction

OPT_OUT_PLACEHOLDERS = ("{optOutUrl}", "{optOutLink}")
NOT_TEXT = (Comment, Declaration, Doctype, ProcessingInstruction)  # markup the reader never sees
INVISIBLE = ("script", "style", "head", "title", "template")
BLOCKS = (
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "tr",
    "ul",
    "ol",
    "li",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "hr",
    "pre",
)
PARAGRAPHS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "pre")
BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
BODY_START = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
TRACKED_LINK = re.compile(r"\{trackingUrl:\d+\}")
WHITESPACE = re.compile(r"\s+")
HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
BLANK_LINES = re.compile(r"\n{3,}")


def _visible_strings(soup: BeautifulSoup) -> list[NavigableString]:
    return [
        string
        for string in soup.find_all(string=True)
        if not isinstance(string, NOT_TEXT) and string.parent.name not in INVISIBLE
    ]


def parse(html: str) -> BeautifulSoup:
    """`html` parsed once, for has_opt_out_link and then to_plain_text (which changes it)."""
    return BeautifulSoup(html, "html.parser")


def has_opt_out_link(html: str | BeautifulSoup) -> bool:
    """Whether the body shows an opt-out link: {optOutUrl} in a link, or either placeholder
    in visible text (a placeholder inside a comment or a style block does not count)."""
    soup = parse(html) if isinstance(html, str) else html
    if any("{optOutUrl}" in link["href"] for link in soup.find_all("a", href=True)):
        return True
    return any(
        placeholder in string
        for string in _visible_strings(soup)
        for placeholder in OPT_OUT_PLACEHOLDERS
    )


def split_at_body_end(html: str) -> tuple[str, str]:
    """`html` cut before its last </body> (or at its end), where appended content goes."""
    matches = list(BODY_END.finditer(html))
    if not matches:
        return html, ""
    cut = matches[-1].start()
    return html[:cut], html[cut:]


def hidden_link_offset(html: str) -> int | None:
    """Where a hidden link goes so it comes before every tracked link: just inside <body> when
    that precedes the first {trackingUrl:ID}, else before the tag holding (or preceding) it;
    None when `html` has no tracked link."""
    first = TRACKED_LINK.search(html)
    if first is None:
        return None
    body = BODY_START.search(html, 0, first.start())
    if body is not None:
        return body.end()
    return max(html.rfind("<", 0, first.start()), 0)


def _link_text(link) -> str:
    text = WHITESPACE.sub(" ", link.get_text(" ")).strip()
    href = link["href"].strip()
    if not href or href.startswith("#") or href == text:
        return text or href
    shown = href.removeprefix("mailto:")
    return f"{text} ({shown})" if text and text != shown else shown


def _is_hidden(tag) -> bool:
    return bool(HIDDEN_STYLE.search(tag.get("style") or ""))


def to_plain_text(html: str | BeautifulSoup) -> str:
    """A readable plain-text version of `html`: paragraphs and line breaks kept, links written
    as "text (url)", scripts, styles, comments and hidden elements (display:none, such as the
    preheader) dropped. A parsed `html` is changed on the way."""
    soup = parse(html) if isinstance(html, str) else html
    for tag in soup.find_all(INVISIBLE):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):
        tag.decompose()
    for markup in soup.find_all(string=lambda string: isinstance(string, NOT_TEXT)):
        markup.extract()
    for string in soup.find_all(string=True):
        if not string.find_parent("pre"):
            string.replace_with(WHITESPACE.sub(" ", string))
    for link in soup.find_all("a", href=True):
        link.replace_with(_link_text(link))
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for cell in soup.find_all(("td", "th")):
        cell.append(" ")
    for item in soup.find_all("li"):
        item.insert(0, "- ")
    for block in soup.find_all(BLOCKS):
        previous = block.previous_sibling
        if isinstance(previous, NavigableString) and previous.strip():
            block.insert_before("\n")
        block.append("\n\n" if block.name in PARAGRAPHS else "\n")
    lines = [line.strip() for line in soup.get_text().split("\n")]
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
