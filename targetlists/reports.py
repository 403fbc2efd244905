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
from django.utils.translation import ngettext

from crm.models import Account, Contact, Lead
from targetlists.adding import add_to_target_list, remove_entries
from targetlists.models import Report, ReportCondition, TargetListEntry
from targetlists.report_fields import CHOICE, DATE, FIELDS, NO_VALUE, OPERATORS, Field


def model_of(entity: str) -> type[Model]:
    return {
        Report.Entity.ACCOUNT: Account,
        Report.Entity.CONTACT: Contact,
        Report.Entity.LEAD: Lead,
        Report.Entity.USER: get_user_model(),
    }[entity]


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
                result.removed += remove_entries(stale)
        report.last_synced_at = timezone.now()
        report.last_sync_summary = str(result)
        report.save(update_fields=["last_synced_at", "last_sync_summary"])
    return result


def sync_hourly_reports() -> list[tuple[Report, SyncResult]]:
    """Sync every report set to sync every hour (the job "Sync Target Lists with Reports")."""
    reports = Report.objects.filter(sync_hourly=True).prefetch_related("conditions")
    return [(report, sync(report)) for report in reports]
