"""Undoing an import: the records it created are deleted, the list entries it added removed,
and the fields it filled or overwrote given back their earlier values.

Possible until someone was mailed from it: once a person it created or added has been sent a
mass email after the import started, the import stays (the campaign log refers to them). A
field changed again since the import keeps its newer value. A suppression import's undo clears
the flag it set on each address and deletes the addresses it created that nobody uses.

`request_undo` (the admin's button) queues people.tasks.undo_import; `run_undo` works in steps
of CHUNK ids, each its own transaction that also adds to the import's undo counts. Every step
can be done twice without harm, so an undo whose worker was stopped is simply run again.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import EmailQueueItem
from crm import person_events
from crm.celery import run_task_on_commit
from crm.models import Account, ConsentRecord, Contact, EmailAddress, Lead
from people.import_sql import PERSON_MODELS, SUPPRESSION_FLAGS
from people.models import ImportedBatch, PeopleImport
from targetlists.adding import remove_entries
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
    removed: int = 0  # records and list entries deleted, or flags cleared
    restored: int = 0  # existing records whose fields were given back their earlier values


def request_undo(people_import: PeopleImport) -> None:
    """Queue the undo of a finished import. Raises CannotUndo."""
    problem = undo_problem(people_import)
    if problem:
        raise CannotUndo(problem)
    with transaction.atomic():
        claimed = PeopleImport.objects.filter(
            pk=people_import.pk, status__in=[PeopleImport.Status.DONE, PeopleImport.Status.FAILED]
        ).update(status=PeopleImport.Status.UNDOING, heartbeat_at=None)
        if not claimed:
            raise CannotUndo(_("This import is being undone already."))
        run_task_on_commit("people.tasks.undo_import", people_import.pk)


def run_undo(import_id: int) -> Undone | None:
    """Undo an import queued for it, or go on with a stalled undo; what this import's undo
    removed and gave back in all. None if another worker has it, or if someone from the import
    was mailed since the undo was asked for (the import is then finished again, as it was)."""
    undoing = PeopleImport.objects.filter(pk=import_id, status=PeopleImport.Status.UNDOING)
    queued = undoing.filter(heartbeat_at__isnull=True).update(heartbeat_at=timezone.now())
    if not queued and not undoing.filter(PeopleImport.stalled()).update(
        heartbeat_at=timezone.now()
    ):
        return None
    people_import = PeopleImport.objects.get(pk=import_id)
    if queued and was_mailed(people_import):  # a stalled undo has begun: it goes on
        finished = PeopleImport.Status.FAILED if people_import.error else PeopleImport.Status.DONE
        PeopleImport.objects.filter(pk=import_id).update(status=finished, heartbeat_at=None)
        return None
    if people_import.is_suppression:
        _undo_suppression(people_import)
    else:
        _undo_people(people_import)
    PeopleImport.objects.filter(pk=import_id).update(
        status=PeopleImport.Status.UNDONE, undone_at=timezone.now(), heartbeat_at=timezone.now()
    )
    people_import.refresh_from_db()
    return Undone(people_import.undo_removed, people_import.undo_restored)


@contextmanager
def _step(people_import: PeopleImport) -> Iterator[Undone]:
    """One step of an undo in its own transaction; what it did is added to the import's
    counts in the same transaction, with the heartbeat."""
    done = Undone()
    with transaction.atomic():
        yield done
        PeopleImport.objects.filter(pk=people_import.pk).update(
            undo_removed=F("undo_removed") + done.removed,
            undo_restored=F("undo_restored") + done.restored,
            heartbeat_at=timezone.now(),
        )


def _undo_people(people_import: PeopleImport) -> None:
    kind = people_import.kind
    if people_import.target_list_id:
        for ids in _id_chunks(people_import, "added"):
            with _step(people_import) as done:
                entries = TargetListEntry.objects.filter(
                    target_list_id=people_import.target_list_id, **{f"{kind}_id__in": ids}
                )
                done.removed += remove_entries(entries)
    model = PERSON_MODELS[kind]
    for ids in _id_chunks(people_import, "created"):
        with _step(people_import) as done:
            imported_consent = ConsentRecord.objects.filter(method=ConsentRecord.Method.IMPORT)
            imported_consent.filter(**{f"{kind}_id__in": ids}).delete()
            people = model.objects.filter(pk__in=ids).select_related("email_address")
            person_events.deleted(people, via="import_undo")
            deleted = people.delete()[1]
            entries = deleted.get(TargetListEntry._meta.label, 0)
            done.removed += deleted.get(model._meta.label, 0) + entries
    for changes in _change_chunks(people_import):
        with _step(people_import) as done:
            done.restored += _restore_fields(model, changes)
    for ids in _id_chunks(people_import, "addresses"):
        with _step(people_import):
            _delete_unused_addresses(ids)


def _change_chunks(people_import: PeopleImport) -> Iterator[dict]:
    """{record id: {field: [before, after]}} of the records the import changed, CHUNK at a time."""
    batches = ImportedBatch.objects.filter(people_import=people_import).exclude(changes=[])
    for changes in batches.order_by("pk").values_list("changes", flat=True).iterator(chunk_size=4):
        for start in range(0, len(changes), CHUNK):
            yield {int(pk): fields for pk, fields in changes[start : start + CHUNK]}


def _restore_fields(model, changes: dict) -> int:
    """Give the fields the import filled or overwrote their earlier values, where they still
    hold the import's; how many records changed back."""
    changed, fields = [], set()
    for record in model.objects.filter(pk__in=list(changes)):
        undone = False
        for attname, (before, after) in changes[record.pk].items():
            if getattr(record, attname) == after:
                setattr(record, attname, before)
                fields.add(attname)
                undone = True
        if undone:
            changed.append(record)
    if changed:
        model.objects.bulk_update(changed, sorted(fields), batch_size=1000)
    return len(changed)


def _delete_unused_addresses(ids: list[int]) -> None:
    unused = EmailAddress.objects.filter(pk__in=ids)
    for model in (Account, Contact, Lead):
        unused = unused.exclude(
            pk__in=model.objects.filter(email_address_id__in=ids).values("email_address_id")
        )
    mailed = EmailQueueItem.objects.filter(email_address_id__in=ids)
    unused.exclude(pk__in=mailed.values("email_address_id")).delete()


def _undo_suppression(people_import: PeopleImport) -> None:
    flag = SUPPRESSION_FLAGS[people_import.purpose]
    for ids in _id_chunks(people_import, "addresses", "flagged"):
        with _step(people_import) as done:
            done.removed += EmailAddress.objects.filter(pk__in=ids, **{flag: True}).update(
                **{flag: False}
            )
    for ids in _id_chunks(people_import, "addresses"):
        with _step(people_import):
            _delete_unused_addresses(ids)
