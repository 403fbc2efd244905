"""What a report's conditions can say: the fields per kind of record, the operators, and a
condition in the marketer's words. Kept apart from targetlists.reports, which runs them, so that
the models can name a condition without importing the code that reads the models."""

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _

from crm.models import Lead


class Entity(models.TextChoices):
    """The kinds of record a report selects (Report.Entity)."""

    ACCOUNT = "account", _("Accounts")
    CONTACT = "contact", _("Contacts")
    LEAD = "lead", _("Leads")
    USER = "user", _("Users")


TEXT, CHOICE, BOOLEAN, DATE = "text", "choice", "boolean", "date"


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    lookup: str  # the ORM path from the report's model
    kind: str
    choices: tuple[tuple[str, str], ...] = ()


def _common() -> list[Field]:
    return [
        Field("email", gettext_lazy("email address"), "email_address__address", TEXT),
        Field(
            "email_opted_out", gettext_lazy("address opted out"), "email_address__opt_out", BOOLEAN
        ),
        Field("email_invalid", gettext_lazy("address invalid"), "email_address__invalid", BOOLEAN),
        Field("created_at", gettext_lazy("created at"), "created_at", DATE),
    ]


def _named() -> list[Field]:
    return [
        Field("first_name", gettext_lazy("first name"), "first_name", TEXT),
        Field("last_name", gettext_lazy("last name"), "last_name", TEXT),
        Field("title", gettext_lazy("title"), "title", TEXT),
        Field("phone", gettext_lazy("phone"), "phone", TEXT),
    ]


FIELDS: dict[str, list[Field]] = {
    Entity.ACCOUNT: [
        Field("name", gettext_lazy("name"), "name", TEXT),
        Field("website", gettext_lazy("website"), "website", TEXT),
        Field("industry", gettext_lazy("industry"), "industry", TEXT),
        Field("phone", gettext_lazy("phone"), "phone", TEXT),
        *_common(),
    ],
    Entity.CONTACT: [
        *_named(),
        Field("account_name", gettext_lazy("account name"), "account__name", TEXT),
        *_common(),
    ],
    Entity.LEAD: [
        *_named(),
        Field("account_name", gettext_lazy("account name"), "account_name", TEXT),
        Field("status", gettext_lazy("status"), "status", CHOICE, tuple(Lead.Status.choices)),
        Field("source", gettext_lazy("source"), "source", TEXT),
        *_common(),
    ],
    Entity.USER: [
        Field("username", gettext_lazy("username"), "username", TEXT),
        Field("first_name", gettext_lazy("first name"), "first_name", TEXT),
        Field("last_name", gettext_lazy("last name"), "last_name", TEXT),
        Field("email", gettext_lazy("email address"), "email", TEXT),
        Field("is_active", gettext_lazy("active"), "is_active", BOOLEAN),
        Field("created_at", gettext_lazy("created at"), "date_joined", DATE),
    ],
}

# operator -> (label, kinds of field it applies to)
OPERATORS: dict[str, tuple[str, tuple[str, ...]]] = {
    "equals": (gettext_lazy("is"), (TEXT, CHOICE)),
    "not_equals": (gettext_lazy("is not"), (TEXT, CHOICE)),
    "contains": (gettext_lazy("contains"), (TEXT,)),
    "starts_with": (gettext_lazy("starts with"), (TEXT,)),
    "ends_with": (gettext_lazy("ends with"), (TEXT,)),
    "empty": (gettext_lazy("is empty"), (TEXT,)),
    "not_empty": (gettext_lazy("is not empty"), (TEXT,)),
    "true": (gettext_lazy("is yes"), (BOOLEAN,)),
    "false": (gettext_lazy("is no"), (BOOLEAN,)),
    "before": (gettext_lazy("is before (date)"), (DATE,)),
    "after": (gettext_lazy("is after (date)"), (DATE,)),
    "on": (gettext_lazy("is on (date)"), (DATE,)),
    "last_days": (gettext_lazy("is within the last N days"), (DATE,)),
}
NO_VALUE = {"empty", "not_empty", "true", "false"}


def field_choices() -> list[tuple[str, str]]:
    """Every field key with its label, once each (the kinds of record share some)."""
    seen = {}
    for fields in FIELDS.values():
        for field in fields:
            seen.setdefault(field.key, field.label)
    return sorted(seen.items(), key=lambda pair: str(pair[1]))


def entity_field_choices(entity: str | None = None) -> list:
    """The fields of `entity`'s records; with no entity, every kind's fields in groups."""
    if entity in FIELDS:
        return [(field.key, field.label) for field in FIELDS[entity]]
    return [
        (Entity(kind).label, [(field.key, field.label) for field in fields])
        for kind, fields in FIELDS.items()
    ]


def describe(condition) -> str:
    """The condition in the marketer's words: “email address ends with globex.test”."""
    entity = condition.report.entity if condition.report_id else None
    fields = FIELDS.get(entity) or [f for kind in FIELDS.values() for f in kind]
    label = next((f.label for f in fields if f.key == condition.field), condition.field)
    operator = OPERATORS.get(condition.operator, (condition.operator, ()))[0]
    value = "" if condition.operator in NO_VALUE else condition.value
    return f"{label} {operator} {value}".strip()


def operator_choices() -> list[tuple[str, str]]:
    return [(key, label) for key, (label, _kinds) in OPERATORS.items()]
