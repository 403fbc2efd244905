"""Adding people to a target list in one set-based statement, whatever the size of the selection.

The selection is any queryset of Accounts, Contacts, Leads or Users (for example the admin's
filtered "select all"). Its SQL becomes the SELECT of one INSERT … SELECT, so no record is ever
loaded into Python and adding 100,000 contacts is a single statement.
"""

from django.db import connections, transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from crm import events
from crm.models import TargetFields
from targetlists.member_events import record_kinds, record_members
from targetlists.models import TargetList, TargetListEntry


class NotATargetError(TypeError):
    """The queryset's model cannot be an entry of a target list."""


def target_field_for(model: type[Model]) -> str:
    """The entry field ('account', 'contact', 'lead' or 'user') that points at `model`."""
    for field in TargetFields.TARGET_FIELDS:
        if TargetListEntry._meta.get_field(field).related_model is model:
            return field
    raise NotATargetError(f"{model.__name__} cannot be added to a target list")


def add_to_target_list(target_list: TargetList, queryset: QuerySet) -> int:
    """Add every record of `queryset` to `target_list`; returns how many entries were added.

    Records already in the list are skipped (NOT EXISTS, and ON CONFLICT for concurrent adds),
    so adding the same selection twice adds nothing the second time. Raises NotATargetError
    for a queryset of another model.
    """
    field = target_field_for(queryset.model)
    connection = connections[queryset.db]
    quote = connection.ops.quote_name
    meta = TargetListEntry._meta
    table = quote(meta.db_table)
    list_column = quote(meta.get_field("target_list").column)
    target_column = quote(meta.get_field(field).column)
    selected_sql, selected_params = queryset.order_by().values("pk").query.sql_with_params()
    people = quote(queryset.model._meta.db_table)
    pk_column = quote(queryset.model._meta.pk.column)
    added_at = meta.get_field("added_at").get_db_prep_value(timezone.now(), connection)
    # IN (…) rather than a join: each record once, however many rows the selection's joins make.
    sql = (
        f"INSERT INTO {table} ({list_column}, {target_column}, "
        f"{quote(meta.get_field('opted_out').column)}, {quote(meta.get_field('added_at').column)}) "
        f"SELECT %s, person.{pk_column}, %s, %s FROM {people} person "
        f"WHERE person.{pk_column} IN ({selected_sql}) AND NOT EXISTS ("
        f"SELECT 1 FROM {table} existing WHERE existing.{list_column} = %s "
        f"AND existing.{target_column} = person.{pk_column}) "
        "ON CONFLICT DO NOTHING"
    )
    params = (target_list.pk, False, added_at, *selected_params, target_list.pk)
    with transaction.atomic(using=queryset.db), connection.cursor() as cursor:
        cursor.execute(sql, params)
        added = cursor.rowcount
        if added:
            # The entries this statement wrote: this list's with its very added_at.
            members = (
                f"SELECT {list_column} AS list_id, {target_column} AS person_id FROM {table} "
                f"WHERE {list_column} = %s AND {quote(meta.get_field('added_at').column)} = %s "
                f"AND {target_column} IS NOT NULL"
            )
            params = [target_list.pk, added_at]
            record_members(events.LIST_MEMBER_ADDED, field, members, params)
        return added


def remove_entries(entries: QuerySet) -> int:
    """Delete the given target list entries in one statement; returns how many were removed.
    list.member_removed is recorded for those not opted out (one insert per kind of person)."""
    with transaction.atomic():
        record_kinds(events.LIST_MEMBER_REMOVED, _members(entries.filter(opted_out=False)))
        deleted, _per_model = entries.order_by().delete()
    return deleted


def opt_out_entries(entries: QuerySet) -> int:
    """Mark the given entries opted out of their lists; how many were not yet. Each of those
    records list.member_removed (with opted_out): the person has left the list, for the
    "leaving the trigger list" exit and for webhooks, as an opt-out through the API does. The
    entries are locked as they are read, so a concurrent call finds them opted out."""
    with transaction.atomic():
        chosen = TargetListEntry.objects.filter(pk__in=entries.values("pk"), opted_out=False)
        locked = chosen.select_for_update(of=("self",)).order_by("pk")
        ids = list(locked.values_list("pk", flat=True))
        if not ids:  # a repeated opt-out: nothing to record
            return 0
        leaving = TargetListEntry.objects.filter(pk__any_of=ids)
        record_kinds(events.LIST_MEMBER_REMOVED, _members(leaving), opted_out=True)
        return leaving.update(opted_out=True)


def _members(entries: QuerySet) -> list[tuple[str, str, list]]:
    """The entries as record_kinds takes them: (kind, SQL of (list_id, person_id), params)."""
    members = []
    for field in TargetFields.TARGET_FIELDS:
        kind = entries.filter(**{f"{field}__isnull": False}).order_by()
        sql, params = kind.values("target_list_id", f"{field}_id").query.sql_with_params()
        members.append((field, _named(sql, field), list(params)))
    return members


def _named(sql: str, field: str) -> str:
    # Columns of the entries' select as record_members reads them.
    return f"SELECT s.target_list_id AS list_id, s.{field}_id AS person_id FROM ({sql}) s"
