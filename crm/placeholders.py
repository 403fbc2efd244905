"""Template placeholders: `{Person.firstName}`, `{Contact.account.name}`, `{today}`, ….

A person field may name a fallback after a bar, `{Person.firstName|there}`: the text used when
the recipient's value is empty (or only spaces), in the subject and both bodies.

A template is split once into literal chunks and Placeholder slots (`split`); each recipient then
only needs a value per slot (`values_for`), so nothing is parsed per recipient. Unknown or
unclosed placeholders raise PlaceholderError when a template is saved, never at send time.
"""

import datetime
import html
import re
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

# A candidate: a brace, a letter, then name characters, an optional "|fallback", up to the
# closing brace (if any). A fallback holds no brace and no line break.
CANDIDATE = re.compile(r"\{([A-Za-z][\w.:]*)(?:\|([^{}\r\n]*))?(\}?)")
ENTITY_FIELDS = {
    "Person": {"firstName", "lastName", "name", "emailAddress"},
    "Contact": {"firstName", "lastName", "name", "emailAddress", "title", "phone"},
    "Lead": {
        "firstName",
        "lastName",
        "name",
        "emailAddress",
        "title",
        "phone",
        "accountName",
        "status",
        "source",
    },
    "Account": {"name", "emailAddress", "website", "industry", "phone"},
    "User": {"firstName", "lastName", "name", "emailAddress", "userName"},
}
RELATIONS = {("Contact", "account"): "Account"}
BUILTINS = {"today", "now", "currentYear"}
MASS_EMAIL_ONLY = {"optOutUrl", "optOutLink", "webViewUrl"}
TRACKING_URL = re.compile(r"trackingUrl:(\d+)")
ATTRIBUTES = {
    "firstName": "first_name",
    "lastName": "last_name",
    "name": "name",
    "title": "title",
    "phone": "phone",
    "accountName": "account_name",
    "status": "status",
    "source": "source",
    "website": "website",
    "industry": "industry",
    "userName": "username",
}


class PlaceholderError(ValueError):
    """A placeholder that is unknown or not closed; the message names it."""


@dataclass(frozen=True)
class Placeholder:
    name: str
    fallback: str | None = None  # for person fields: the text shown when the value is empty

    @property
    def tracking_url_id(self) -> int | None:
        match = TRACKING_URL.fullmatch(self.name)
        return int(match.group(1)) if match else None


def is_known(name: str) -> bool:
    if name in BUILTINS or name in MASS_EMAIL_ONLY or TRACKING_URL.fullmatch(name):
        return True
    parts = name.split(".")
    if len(parts) == 2:
        return parts[1] in ENTITY_FIELDS.get(parts[0], ())
    if len(parts) == 3:
        related = RELATIONS.get((parts[0], parts[1]))
        return related is not None and parts[2] in ENTITY_FIELDS[related]
    return False


def is_person_field(name: str) -> bool:
    return "." in name and is_known(name)


def _looks_like_placeholder(name: str) -> bool:
    # `p{color:red}` in a style block is CSS, not a placeholder; only trackingUrl uses a colon.
    return ":" not in name or name.startswith("trackingUrl:")


def split(text: str) -> list[str | Placeholder]:
    """Literal chunks and placeholders of `text`, in order; raises PlaceholderError."""
    pieces: list[str | Placeholder] = []
    position = 0
    for match in CANDIDATE.finditer(text):
        name, fallback, closed = match.groups()
        if not _looks_like_placeholder(name):
            continue
        if not closed:
            if "." in name or is_known(name) or name.startswith("trackingUrl"):
                raise PlaceholderError(
                    _("Placeholder {%(name)s is not closed with }.") % {"name": name}
                )
            continue
        if not is_known(name):
            raise PlaceholderError(_("Unknown placeholder {%(name)s}.") % {"name": name})
        if fallback is not None and not is_person_field(name):
            message = _("Only person fields take a fallback; {%(name)s|…} cannot have one.")
            raise PlaceholderError(message % {"name": name})
        pieces.append(text[position : match.start()])
        pieces.append(Placeholder(name, fallback))
        position = match.end()
    pieces.append(text[position:])
    return [piece for piece in pieces if piece != ""]


def validate(text: str) -> list[Placeholder]:
    """The placeholders in `text`; raises PlaceholderError for an unknown or unclosed one."""
    return [piece for piece in split(text) if isinstance(piece, Placeholder)]


def _entity_of(target) -> str:
    from crm.models.people import target_type_of

    return target_type_of(target).capitalize()


def _field_value(obj, field: str) -> str:
    if obj is None:
        return ""
    if field == "emailAddress":
        return getattr(obj, "email", "") or ""
    if field == "name" and not hasattr(obj, "name"):  # Django's User
        return obj.get_full_name() or obj.get_username()
    value = getattr(obj, ATTRIBUTES[field], "")
    return "" if value is None else str(value)


class SamplePerson:
    """The preview's default recipient: every field of every kind of person filled in."""

    VALUES = {
        "firstName": "Alex",
        "lastName": "Morgan",
        "name": "Alex Morgan",
        "emailAddress": "alex.morgan@example.com",
        "title": "Head of Purchasing",
        "phone": "+1 555 0100",
        "accountName": "Northwind Traders",
        "status": "New",
        "source": "Web site",
        "website": "https://northwind.example",
        "industry": "Retail",
        "userName": "amorgan",
    }
    ACCOUNT = {"name": "Northwind Traders", "emailAddress": "info@northwind.example"}

    def value(self, name: str) -> str:
        parts = name.split(".")
        if parts[0] == "Account" or len(parts) == 3:
            return self.ACCOUNT.get(parts[-1], self.VALUES.get(parts[-1], ""))
        return self.VALUES.get(parts[-1], "")

    def __str__(self) -> str:
        return self.VALUES["name"]


def person_value(name: str, target) -> str:
    """The raw (unescaped) value of a person placeholder for `target`; '' for another type."""
    if isinstance(target, SamplePerson):
        return target.value(name)
    parts = name.split(".")
    entity = _entity_of(target)
    if parts[0] not in ("Person", entity):
        return ""
    obj = target
    if len(parts) == 3:
        obj = getattr(target, parts[1], None)
    return _field_value(obj, parts[-1])


def with_fallback(value: str, fallback: str | None) -> str:
    """`value`, or `fallback` when `value` is empty or only whitespace (and there is one)."""
    return value if fallback is None or value.strip() else fallback


def builtin_value(name: str, now: datetime.datetime | None = None) -> str:
    now = timezone.localtime(now or timezone.now())
    if name == "today":
        return now.date().isoformat()
    if name == "now":
        return now.strftime("%Y-%m-%d %H:%M")
    return str(now.year)


def header_safe(value: str) -> str:
    """A value that cannot start a new header line."""
    return " ".join(value.splitlines()).replace("\r", " ").replace("\n", " ")


def render_preview(text: str, target, *, html_context: bool, extra: dict | None = None) -> str:
    """`text` with every placeholder filled for `target` (for previews and test views).

    Values are HTML-escaped when html_context, else made header-safe; a fallback is template
    text, so it is written as it is. Mass-email-only placeholders take their value from
    `extra`, or render empty.
    """
    out = []
    extra = extra or {}
    for piece in split(text):
        if isinstance(piece, str):
            out.append(piece)
            continue
        if piece.name in BUILTINS:
            value = builtin_value(piece.name)
        elif piece.name in extra:
            value = extra[piece.name]
        elif piece.name in MASS_EMAIL_ONLY or piece.tracking_url_id is not None:
            value = ""
        else:
            value = person_value(piece.name, target) if target is not None else ""
            if piece.fallback is not None and not value.strip():
                out.append(piece.fallback)
                continue
        out.append(html.escape(value) if html_context else header_safe(value))
    return "".join(out)
