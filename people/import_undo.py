"""Undoing an import: the records it created are deleted, the list entries it added removed,
and the fields it filled or overwrote given back their earlier values.

Possible until someone was mailed from it: once a person it created or added has been sent a
mass email after the import started, the import stays (the campaign log refers to them). A
field changed again since the import keeps its newer value. A suppression import's undo clears
the flag it set on each address and deletes the addresses it created that nobody uses.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import EmailQueueItem
from crm.models import Account, ConsentRecord, Contact, EmailAddress, Lead
from people.import_sql import PERSON_MODELS, SUPPRESSION_FLAGS
from people.models import ImportedBatch, PeopleImport
from targetlists.models import TargetListEntry

CHUNK = 5_000


class CannotUndo(ValueError):
    """The import is not done, was undone already, or people were mailed from it."""


def _id_chunks(people_import: PeopleImport, *fields: str) -> Iterator[list[int]]:
    """The ids the import's batches keep in `fields`, CHUNK at a time."""
    batches = ImportedBatch.objects.filter(people_import=people_import).order_by("pk")
    for values in batches.values_list(*fields).iterator(chunk_size=4):
        ids = [pk for listed in values for pk in listed]
        for start in range(0, len(ids), CHUNK):
            yield ids[start : start + CHUNK]


def was_mailed(people_import: PeopleImport) -> bool:
    """Whether anyone the import created or added was sent a mass email since it started."""
    if people_import.is_suppression or not people_import.started_at:
        return False
    column = f"{people_import.kind}_id"
    sent = EmailQueueItem.objects.filter(
        status=EmailQueueItem.Status.SENT,
        sent_at__gte=people_import.started_at,
        is_test=False,
        **{f"{column}__isnull": False},
    )
    if not sent.exists():  # right after an import, one query answers
        return False
    return any(
        sent.filter(**{f"{column}__in": ids}).exists()
        for ids in _id_chunks(people_import, "created", "added")
    )


def undo_problem(people_import: PeopleImport) -> str:
    """Why the import cannot be undone now ('' when it can)."""
    if people_import.status not in (PeopleImport.Status.DONE, PeopleImport.Status.FAILED):
        return _("Only a finished import can be undone.")
    if was_mailed(people_import):
        return _("People from this import have been mailed: it can no longer be undone.")
    return ""


@dataclass
class Undone:
    removed: int  # records and list entries deleted, or flags cleared
    restored: int  # existing records whose fields were given back their earlier values


def undo(people_import: PeopleImport) -> Undone:
    """Undo the import; what it removed and gave back.

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
    kind = people_import.kind
    removed = 0
    if people_import.target_list_id:
        for ids in _id_chunks(people_import, "added"):
            removed += TargetListEntry.objects.filter(
                target_list_id=people_import.target_list_id, **{f"{kind}_id__in": ids}
            ).delete()[0]
    model = PERSON_MODELS[kind]
    for ids in _id_chunks(people_import, "created"):
        imported_consent = ConsentRecord.objects.filter(method=ConsentRecord.Method.IMPORT)
        imported_consent.filter(**{f"{kind}_id__in": ids}).delete()
        deleted = model.objects.filter(pk__in=ids).delete()[1]
        removed += deleted.get(model._meta.label, 0) + deleted.get(TargetListEntry._meta.label, 0)
    restored = _restore_fields(people_import, model)
    _delete_unused_addresses(_id_chunks(people_import, "addresses"))
    return Undone(removed, restored)


def _restore_fields(people_import: PeopleImport, model) -> int:
    """Give the fields the import filled or overwrote their earlier values, where they still
    hold the import's; how many records changed back."""
    restored = 0
    batches = ImportedBatch.objects.filter(people_import=people_import).exclude(changes=[])
    for changes in batches.order_by("pk").values_list("changes", flat=True).iterator(chunk_size=4):
        for start in range(0, len(changes), CHUNK):
            chunk = dict(changes[start : start + CHUNK])
            records = model.objects.filter(pk__in=[int(pk) for pk in chunk])
            changed, fields = [], set()
            for record in records:
                undone = False
                for attname, (before, after) in chunk[record.pk].items():
                    if getattr(record, attname) == after:
                        setattr(record, attname, before)
                        fields.add(attname)
                        undone = True
                if undone:
                    changed.append(record)
            if changed:
                model.objects.bulk_update(changed, sorted(fields), batch_size=1000)
            restored += len(changed)
    return restored


def _delete_unused_addresses(chunks: Iterator[list[int]]) -> None:
    for ids in chunks:
        unused = EmailAddress.objects.filter(pk__in=ids)
        for model in (Account, Contact, Lead):
            unused = unused.exclude(
                pk__in=model.objects.filter(email_address_id__in=ids).values("email_address_id")
            )
        mailed = EmailQueueItem.objects.filter(email_address_id__in=ids)
        unused.exclude(pk__in=mailed.values("email_address_id")).delete()


def _undo_suppression(people_import: PeopleImport) -> int:
    flag = SUPPRESSION_FLAGS[people_import.purpose]
    cleared = 0
    for ids in _id_chunks(people_import, "addresses", "flagged"):
        cleared += EmailAddress.objects.filter(pk__in=ids, **{flag: True}).update(**{flag: False})
    _delete_unused_addresses(_id_chunks(people_import, "addresses"))
    return Undone(cleared, 0)
