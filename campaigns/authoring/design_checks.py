"""What the visual builder sends is checked on the server, whatever the browser sent.

A visual template arrives as two texts: the builder's project data (JSON, to open the design
again) and its MJML (compiled into the HTML that is sent). Both must be free of anything that
could run or fetch in the admin or in a mail app: no `<script>` or other unknown tag, no `on…`
event attribute, no `javascript:`/`vbscript:` address, no `data:` address (an image is uploaded,
never pasted in), no CSS expression or `@import`, no MJML tag the builder does not know
(`mj-include` above all: it would read files on the server). Each check raises
ValidationError naming the first problems found, in the marketer's words.
"""

import json
import re
from collections.abc import Iterable, Iterator

from bs4 import BeautifulSoup, Comment, Tag
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MAX_DESIGN_BYTES = 3_000_000  # the builder's project data, as JSON
MAX_MJML_CHARS = 1_000_000
MAX_PROBLEMS = 5  # problems named in one message

MJML_TAGS = frozenset(
    "mjml mj-head mj-attributes mj-all mj-class mj-breakpoint mj-style mj-title mj-preview "
    "mj-html-attributes mj-html-attribute mj-selector mj-body mj-wrapper mj-section mj-group "
    "mj-column mj-text mj-image mj-button mj-divider mj-spacer mj-social mj-social-element "
    "mj-navbar mj-navbar-link mj-hero mj-raw mj-table mj-accordion mj-accordion-element "
    "mj-accordion-title mj-accordion-text mj-carousel mj-carousel-image".split()
)
# What text, buttons, tables and raw blocks may hold: formatting, links, images, tables.
HTML_TAGS = frozenset(
    "a abbr b big blockquote br center code del div em font h1 h2 h3 h4 h5 h6 hr i img ins li "
    "mark ol p pre s small span strike strong sub sup table tbody td tfoot th thead tr u ul "
    "caption col colgroup".split()
)
# Component types of GrapesJS (core and MJML plugin) a design may hold.
COMPONENT_TYPES = MJML_TAGS | frozenset(
    "default text textnode link image comment wrapper cell row table thead tbody tfoot".split()
)
URL_ATTRIBUTES = frozenset(
    "href src background background-url action formaction poster xlink:href lowres "
    "icon-wrapped-url icon-unwrapped-url thumbnails-src srcset cite longdesc".split()
)
BAD_SCHEMES = ("javascript:", "vbscript:", "data:")
SPACES = re.compile(r"[\x00-\x20]+")
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]*)", re.IGNORECASE)
CSS_DANGER = re.compile(r"expression\s*\(|@import|-moz-binding|behavior\s*:", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<\s*/?\s*(script|iframe|object|embed)\b", re.IGNORECASE)
MARKUP_DANGER = re.compile(SCRIPT_TAG.pattern + r"|\bon\w+\s*=", re.IGNORECASE)


def _bad_address(value: str) -> str | None:
    """The problem with an address (an attribute value or a CSS url()), or None."""
    compact = SPACES.sub("", value).lower()
    parts = compact.split(",") if "," in compact and " " in value else [compact]
    for part in parts:
        if part.startswith("data:"):
            return _("an image pasted into the design (data: address): upload the image instead")
        if part.startswith(BAD_SCHEMES):
            return _("a script address (%(scheme)s)") % {"scheme": part.split(":", 1)[0] + ":"}
    return None


def css_problems(css: str) -> Iterator[str]:
    """Problems of a style attribute or style sheet: expressions, @import, bad url()s."""
    if CSS_DANGER.search(css):
        yield _("a style that loads or runs code (expression, @import, binding)")
    for address in CSS_URL.findall(css):
        problem = _bad_address(address)
        if problem:
            yield problem


def attribute_problems(tag: str, name: str, value) -> Iterator[str]:
    """Problems of one attribute of `tag`: event handlers, bad addresses and styles."""
    name = name.lower().strip()
    text = value if isinstance(value, str) else " ".join(map(str, value or []))
    if name.startswith("on"):
        yield _("an event attribute (%(name)s on %(tag)s)") % {"name": name, "tag": tag}
    elif name in URL_ATTRIBUTES or name.endswith("-url"):
        problem = _bad_address(text)
        if problem:
            yield problem
    elif name == "style":
        yield from css_problems(text)
    if "<" in text and MARKUP_DANGER.search(text):
        yield _("markup inside an attribute (%(name)s on %(tag)s)") % {"name": name, "tag": tag}


def _tag_problems(tag: Tag, allowed: frozenset) -> Iterator[str]:
    if tag.name not in allowed:
        yield _("the tag <%(tag)s>, which a design may not hold") % {"tag": tag.name}
    for name, value in tag.attrs.items():
        yield from attribute_problems(tag.name, name, value)
    if tag.name == "mj-image" and not (tag.get("alt") or "").strip():
        yield _("an image without alt text (%(src)s)") % {"src": tag.get("src", "?")}


def markup_problems(markup: str, allowed: frozenset) -> list[str]:
    """Every problem of `markup` (MJML or HTML), each named once, in document order."""
    soup = BeautifulSoup(markup, "html.parser")
    problems: list[str] = []
    for node in soup.descendants:
        if isinstance(node, Comment) and MARKUP_DANGER.search(node):
            problems.append(_("a script inside a comment"))
        elif isinstance(node, Tag):
            problems += _tag_problems(node, allowed)
            if node.name == "mj-style":
                problems += css_problems(node.get_text())
    return list(dict.fromkeys(problems))


def _refuse(field: str, problems: Iterable[str]) -> None:
    problems = list(problems)
    if problems:
        listed = "; ".join(problems[:MAX_PROBLEMS])
        raise ValidationError({field: _("The design holds %(problems)s.") % {"problems": listed}})


def check_mjml(source: str, field: str = "body_mjml") -> None:
    """Raises ValidationError on `field` unless `source` is MJML the builder may hold."""
    if len(source) > MAX_MJML_CHARS:
        message = _("The design is too large (%(size)s characters; at most %(max)s).")
        raise ValidationError({field: message % {"size": len(source), "max": MAX_MJML_CHARS}})
    if not source.lstrip().lower().startswith("<mjml"):
        raise ValidationError({field: _("The design is not MJML (it must start with <mjml>).")})
    _refuse(field, markup_problems(source, MJML_TAGS | HTML_TAGS))


def _component_problems(component: dict) -> Iterator[str]:
    kind = component.get("type")
    if isinstance(kind, str) and kind and kind not in COMPONENT_TYPES:
        yield _("a block of the unknown kind “%(kind)s”") % {"kind": kind[:40]}
    tag = component.get("tagName")
    if isinstance(tag, str) and tag.lower() not in MJML_TAGS | HTML_TAGS:
        yield _("the tag <%(tag)s>, which a design may not hold") % {"tag": tag[:40]}
    attributes = component.get("attributes")
    if isinstance(attributes, dict):
        for name, value in attributes.items():
            yield from attribute_problems(str(tag or kind), str(name), value)
    for key in ("content", "components"):
        if isinstance(component.get(key), str) and "<" in component[key]:
            yield from markup_problems(component[key], MJML_TAGS | HTML_TAGS)


def _walk(data, problems: list[str], component: bool = False) -> None:
    """Collects the problems of every component (what lies under a "component" or in a
    "components" list: a frame's head and document element are no blocks), style and string."""
    if isinstance(data, dict):
        if component:
            problems += _component_problems(data)
        for key in URL_ATTRIBUTES.intersection(data):  # an asset's src, for one
            if isinstance(data[key], str) and (problem := _bad_address(data[key])):
                problems.append(problem)
        style = data.get("style")
        if isinstance(style, dict):
            problems += css_problems(" ".join(f"{k}:{v};" for k, v in style.items()))
        elif isinstance(style, str):
            problems += css_problems(style)
        for key, value in data.items():
            _walk(value, problems, component=key in ("component", "components"))
    elif isinstance(data, list):
        for value in data:
            _walk(value, problems, component)
    elif isinstance(data, str) and SCRIPT_TAG.search(data):
        problems.append(_("a script in its text"))


def check_design(design, field: str = "design") -> None:
    """Raises ValidationError on `field` unless `design` is builder project data (a JSON object)
    within the size limit and free of scripts, event attributes and script or data addresses."""
    if not isinstance(design, dict):
        raise ValidationError({field: _("The design could not be read.")})
    size = len(json.dumps(design, ensure_ascii=False).encode())
    if size > MAX_DESIGN_BYTES:
        message = _("The design is too large (%(size)s bytes; at most %(max)s).")
        raise ValidationError({field: message % {"size": size, "max": MAX_DESIGN_BYTES}})
    problems: list[str] = []
    _walk(design, problems)
    _refuse(field, dict.fromkeys(problems))
