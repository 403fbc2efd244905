"""Which fields an import can fill, per kind of record, and guessing them from a header.

Headers are compared without case, accents, spaces or punctuation, in English and Spanish, so
"E-mail", "Correo electrónico" and "EMAIL_ADDRESS" all mean the address.
"""

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

EMAIL = "email"
FULL_NAME = "full_name"
ACCOUNT = "account"  # a contact's account, found by name


@dataclass(frozen=True)
class Field:
    name: str
    label: str | Promise
    max_length: int
    synonyms: tuple[str, ...]


_EMAIL = Field(
    EMAIL,
    _("Email"),
    254,
    (
        "email",
        "emailaddress",
        "mail",
        "email1",
        "primaryemail",
        "correo",
        "correoelectronico",
        "direcciondecorreo",
        "direccionemail",
        "emaildirecciondecorreo",
    ),
)
_FIRST = Field(
    "first_name", _("First name"), 100, ("firstname", "first", "givenname", "forename", "nombre")
)
_LAST = Field(
    "last_name",
    _("Last name"),
    100,
    ("lastname", "last", "surname", "familyname", "apellido", "apellidos"),
)
_FULL = Field(
    FULL_NAME,
    _("Full name (split into first and last)"),
    201,
    ("name", "fullname", "contactname", "nombrecompleto", "nombreyapellidos"),
)
_TITLE = Field(
    "title", _("Title"), 100, ("title", "jobtitle", "position", "role", "cargo", "puesto")
)
_PHONE = Field(
    "phone",
    _("Phone"),
    50,
    ("phone", "telephone", "phonenumber", "mobile", "tel", "telefono", "movil", "celular"),
)
_COMPANY_WORDS = (
    "account",
    "accountname",
    "company",
    "companyname",
    "organization",
    "organisation",
    "empresa",
    "compania",
    "cuenta",
    "organizacion",
    "nombredelaempresa",
)

FIELDS: dict[str, tuple[Field, ...]] = {
    "contact": (
        _EMAIL,
        _FIRST,
        _LAST,
        _FULL,
        _TITLE,
        _PHONE,
        Field(ACCOUNT, _("Account (by name)"), 255, _COMPANY_WORDS),
    ),
    "lead": (
        _EMAIL,
        _FIRST,
        _LAST,
        _FULL,
        _TITLE,
        _PHONE,
        Field("account_name", _("Account name"), 255, _COMPANY_WORDS),
        Field("source", _("Source"), 100, ("source", "leadsource", "origen", "fuente")),
    ),
    "account": (
        _EMAIL,
        Field("name", _("Name"), 255, ("name", "accountname", *_COMPANY_WORDS[1:], "nombre")),
        Field("website", _("Website"), 200, ("website", "web", "url", "site", "sitioweb")),
        Field("industry", _("Industry"), 100, ("industry", "sector", "industria")),
        _PHONE,
    ),
}
SUPPRESSION_FIELDS = (_EMAIL,)


def fields_for(kind: str, suppression: bool = False) -> tuple[Field, ...]:
    return SUPPRESSION_FIELDS if suppression else FIELDS[kind]


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return re.sub(r"[^a-z0-9]", "", "".join(c for c in decomposed if not unicodedata.combining(c)))


def guess_mapping(header: list[str], kind: str, suppression: bool = False) -> list[str]:
    """One field name per column ('' to ignore it), each field used at most once."""
    fields = fields_for(kind, suppression)
    mapping, used = [], set()
    for cell in header:
        plain = _plain(cell)
        found = next(
            (f.name for f in fields if plain in f.synonyms and f.name not in used),
            "",
        )
        if not found and "mail" in plain and EMAIL not in used:
            found = EMAIL  # "Work e-mail", "Mail address", "Correo-e"
        used.add(found)
        mapping.append(found)
    return mapping


def header_key(header: list[str]) -> str:
    """The same for two files whose header cells are the same (ignoring case and spacing)."""
    plain = json.dumps([_plain(cell) for cell in header])
    return hashlib.sha256(plain.encode()).hexdigest()


def check_mapping(mapping: list[str], kind: str, suppression: bool = False) -> list[str]:
    """Problems with a chosen mapping (no email column, a field twice, unknown fields)."""
    names = {f.name for f in fields_for(kind, suppression)}
    chosen = [name for name in mapping if name]
    problems = []
    if EMAIL not in chosen:
        problems.append(str(_("Choose the column that holds the email address.")))
    if len(chosen) != len(set(chosen)):
        problems.append(str(_("Each field can come from one column only.")))
    if set(chosen) - names:
        problems.append(str(_("Unknown field in the mapping.")))
    return problems
