"""Reports: saved criteria over Accounts, Contacts, Leads or Users that fill target lists.

A report's conditions name a field from FIELDS (per kind of record: only these, never an
arbitrary lookup), an operator its kind of field allows (OPERATORS) and a value; they are
combined with AND ("all conditions") or OR ("any condition"). A report without conditions
matches every record of its kind.

Syncing a report adds the records it matches to each of its target lists in one INSERT …
SELECT per list (targetlists.adding), and, with "remove entries that no longer match", deletes
the entries of that kind of record it no longer matches, except opted-out ones: deleting those
would lose the opt-out, and the record would come back subscribed on the next sync.
"""

import datetime
import functools
import operator
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm.models import Account, Contact, Lead
from targetlists.adding import add_to_target_list
from targetlists.models import Report, ReportCondition, TargetListEntry

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
    Report.Entity.ACCOUNT: [
        Field("name", gettext_lazy("name"), "name", TEXT),
        Field("website", gettext_lazy("website"), "website", TEXT),
        Field("industry", gettext_lazy("industry"), "industry", TEXT),
        Field("phone", gettext_lazy("phone"), "phone", TEXT),
        *_common(),
    ],
    Report.Entity.CONTACT: [
        *_named(),
        Field("account_name", gettext_lazy("account name"), "account__name", TEXT),
        *_common(),
    ],
    Report.Entity.LEAD: [
        *_named(),
        Field("account_name", gettext_lazy("account name"), "account_name", TEXT),
        Field("status", gettext_lazy("status"), "status", CHOICE, tuple(Lead.Status.choices)),
        Field("source", gettext_lazy("source"), "source", TEXT),
        *_common(),
    ],
    Report.Entity.USER: [
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


def model_of(entity: str) -> type[Model]:
    return {
        Report.Entity.ACCOUNT: Account,
        Report.Entity.CONTACT: Contact,
        Report.Entity.LEAD: Lead,
        Report.Entity.USER: get_user_model(),
    }[entity]


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
        (Report.Entity(kind).label, [(field.key, field.label) for field in fields])
        for kind, fields in FIELDS.items()
    ]


def describe(condition: ReportCondition) -> str:
    """The condition in the marketer's words: “email address ends with globex.test”."""
    entity = condition.report.entity if condition.report_id else None
    fields = FIELDS.get(entity) or [f for kind in FIELDS.values() for f in kind]
    label = next((f.label for f in fields if f.key == condition.field), condition.field)
    operator = OPERATORS.get(condition.operator, (condition.operator, ()))[0]
    value = "" if condition.operator in NO_VALUE else condition.value
    return f"{label} {operator} {value}".strip()


def operator_choices() -> list[tuple[str, str]]:
    return [(key, label) for key, (label, _kinds) in OPERATORS.items()]


def _field(entity: str, key: str) -> Field:
    for field in FIELDS.get(entity, ()):
        if field.key == key:
            return field
    entity_label = Report.Entity(entity).label if entity in Report.Entity.values else entity
    raise ValidationError(
        _("%(records)s have no field “%(field)s”.") % {"records": entity_label, "field": key}
    )


def validate(entity: str, key: str, operator: str, value: str) -> None:
    """Raise ValidationError, in words for the marketer, unless the condition can be applied."""
    field = _field(entity, key)
    if operator not in OPERATORS:
        raise ValidationError(_("Unknown operator “%(operator)s”.") % {"operator": operator})
    label, kinds = OPERATORS[operator]
    if field.kind not in kinds:
        raise ValidationError(
            _("“%(operator)s” does not apply to “%(field)s”.")
            % {"operator": label, "field": field.label}
        )
    _value(field, operator, value)


def _value(field: Field, operator: str, value: str):
    """The condition's value as its lookup takes it; ValidationError if it is not one."""
    value = value.strip()
    if operator in NO_VALUE:
        return None
    if operator == "last_days":
        if not value.isdigit():
            raise ValidationError(_("Enter a number of days, e.g. 30."))
        return timezone.now() - datetime.timedelta(days=int(value))
    if field.kind == DATE:
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            raise ValidationError(_("Enter a date as YYYY-MM-DD.")) from None
    if field.kind == CHOICE and value not in dict(field.choices):
        allowed = ", ".join(key for key, _label in field.choices)
        raise ValidationError(
            _("“%(value)s” is not one of: %(allowed)s.") % {"value": value, "allowed": allowed}
        )
    if not value:
        raise ValidationError(_("Enter a value, or use “is empty”."))
    return value


def _q(entity: str, condition: ReportCondition) -> Q:
    field = _field(entity, condition.field)
    value = _value(field, condition.operator, condition.value)
    path = field.lookup
    case = "" if field.kind == CHOICE else "i"
    return {
        "equals": lambda: Q(**{f"{path}__{case}exact": value}),
        "not_equals": lambda: ~Q(**{f"{path}__{case}exact": value}),
        "contains": lambda: Q(**{f"{path}__icontains": value}),
        "starts_with": lambda: Q(**{f"{path}__istartswith": value}),
        "ends_with": lambda: Q(**{f"{path}__iendswith": value}),
        "empty": lambda: Q(**{path: ""}) | Q(**{f"{path}__isnull": True}),
        "not_empty": lambda: ~Q(**{path: ""}) & Q(**{f"{path}__isnull": False}),
        "true": lambda: Q(**{path: True}),
        "false": lambda: Q(**{path: False}),
        "before": lambda: Q(**{f"{path}__date__lt": value}),
        "after": lambda: Q(**{f"{path}__date__gt": value}),
        "on": lambda: Q(**{f"{path}__date": value}),
        "last_days": lambda: Q(**{f"{path}__gte": value}),
    }[condition.operator]()


def matching(report: Report, conditions: list[ReportCondition] | None = None) -> QuerySet:
    """The records `report` matches (its saved conditions, or `conditions`)."""
    conditions = list(report.conditions.all()) if conditions is None else conditions
    queries = [_q(report.entity, condition) for condition in conditions]
    join = operator.or_ if report.match == Report.Match.ANY else operator.and_
    return model_of(report.entity).objects.filter(functools.reduce(join, queries, Q()))


@dataclass
class SyncResult:
    added: int = 0
    removed: int = 0
    lists: int = 0

    def __str__(self) -> str:
        return ngettext(
            "%(added)s added, %(removed)s removed in %(lists)s target list",
            "%(added)s added, %(removed)s removed in %(lists)s target lists",
            self.lists,
        ) % {
            "added": self.added,
            "removed": self.removed,
            "lists": self.lists,
        }


def sync(report: Report) -> SyncResult:
    """Fill the report's target lists with what it matches now (see the module)."""
    result = SyncResult()
    records = matching(report)
    field = report.entity  # the entry field that points at this kind of record
    with transaction.atomic():
        for target_list in report.target_lists.all():
            result.lists += 1
            result.added += add_to_target_list(target_list, records)
            if report.remove_unmatched:
                stale = TargetListEntry.objects.filter(
                    target_list=target_list, opted_out=False, **{f"{field}__isnull": False}
                ).exclude(**{f"{field}__in": records.values("pk")})
                result.removed += stale.delete()[0]
        report.last_synced_at = timezone.now()
        report.last_sync_summary = str(result)
        report.save(update_fields=["last_synced_at", "last_sync_summary"])
    return result


def sync_hourly_reports() -> list[tuple[Report, SyncResult]]:
    """Sync every report set to sync every hour (the job "Sync Target Lists with Reports")."""
    reports = Report.objects.filter(sync_hourly=True).prefetch_related("conditions")
    return [(report, sync(report)) for report in reports]
