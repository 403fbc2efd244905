"""Undoing an import: the records it created are deleted, the list entries it added removed.

Possible until someone was mailed from it: once a created or added person has been sent a
mass email after the import started, the import stays (the campaign log refers to them).
Updates made to existing records are not undone. A suppression import's undo clears the flag
it set on each address and deletes the addresses it created that nobody uses.
"""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import EmailQueueItem
from crm.models import Account, ConsentRecord, Contact, EmailAddress, Lead
from people.import_sql import PERSON_MODELS
from people.models import ImportedRow, PeopleImport
from targetlists.models import TargetListEntry

CHUNK = 5_000


class CannotUndo(ValueError):
    """The import is not done, was undone already, or people were mailed from it."""


def _rows(people_import: PeopleImport):
    return ImportedRow.objects.filter(people_import=people_import)


def was_mailed(people_import: PeopleImport) -> bool:
    """Whether anyone the import created or added was sent a mass email since it started."""
    if people_import.is_suppression or not people_import.started_at:
        return False
    people = _rows(people_import).filter(Q(created=True) | Q(entry_added=True))
    return EmailQueueItem.objects.filter(
        **{f"{people_import.kind}_id__in": people.values("person_id")},
        status=EmailQueueItem.Status.SENT,
        sent_at__gte=people_import.started_at,
        is_test=False,
    ).exists()


def undo_problem(people_import: PeopleImport) -> str:
    """Why the import cannot be undone now ('' when it can)."""
    if people_import.status not in (PeopleImport.Status.DONE, PeopleImport.Status.FAILED):
        return _("Only a finished import can be undone.")
    if was_mailed(people_import):
        return _("People from this import have been mailed: it can no longer be undone.")
    return ""


def _chunks(queryset, field: str):
    ids = list(queryset.values_list(field, flat=True).order_by(field))
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def undo(people_import: PeopleImport) -> int:
    """Undo the import; returns how many records and entries were removed (or flags cleared).

    Raises CannotUndo."""
    problem = undo_problem(people_import)
    if problem:
        raise CannotUndo(problem)
    with transaction.atomic():
        if people_import.is_suppression:
            removed = _undo_suppression(people_import)
        else:
            removed = _undo_people(people_import)
        people_import.status = PeopleImport.Status.UNDONE
        people_import.undone_at = timezone.now()
        people_import.save(update_fields=["status", "undone_at"])
    return removed


def _undo_people(people_import: PeopleImport) -> int:
    removed = 0
    rows = _rows(people_import)
    if people_import.target_list_id:
        for ids in _chunks(rows.filter(entry_added=True, created=False), "person_id"):
            removed += TargetListEntry.objects.filter(
                target_list_id=people_import.target_list_id,
                **{f"{people_import.kind}_id__in": ids},
            ).delete()[0]
    model = PERSON_MODELS[people_import.kind]
    for ids in _chunks(rows.filter(created=True), "person_id"):
        imported_consent = ConsentRecord.objects.filter(method=ConsentRecord.Method.IMPORT)
        imported_consent.filter(**{f"{people_import.kind}_id__in": ids}).delete()
        deleted = model.objects.filter(pk__in=ids).delete()[1]
        removed += deleted.get(model._meta.label, 0) + deleted.get(TargetListEntry._meta.label, 0)
    _delete_unused_addresses(rows.filter(address_id__isnull=False))
    return removed


def _delete_unused_addresses(rows) -> None:
    for ids in _chunks(rows, "address_id"):
        unused = EmailAddress.objects.filter(pk__in=ids)
        for model in (Account, Contact, Lead):
            unused = unused.exclude(
                pk__in=model.objects.filter(email_address_id__in=ids).values("email_address_id")
            )
        mailed = EmailQueueItem.objects.filter(email_address_id__in=ids)
        unused.exclude(pk__in=mailed.values("email_address_id")).delete()


def _undo_suppression(people_import: PeopleImport) -> int:
    flag = "opt_out" if people_import.purpose == PeopleImport.Purpose.OPT_OUT else "invalid"
    rows = _rows(people_import)
    cleared = 0
    for ids in _chunks(rows, "address_id"):
        cleared += EmailAddress.objects.filter(pk__in=ids, **{flag: True}).update(**{flag: False})
    _delete_unused_addresses(rows.filter(created=True))
    return cleared
