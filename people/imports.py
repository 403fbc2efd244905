"""CSV imports: upload and sniff a file, map its columns, preview it, run it in batches.

`run_import` streams the file (people.import_run): rows are checked one by one
(people.import_rows) and written 20,000 at a time with set-based SQL (people.import_sql), so
memory stays flat whatever the size; each batch is its own transaction, with the import's
progress. A row that cannot be imported goes to the rejected-rows CSV with its reason; it
never stops the rest.
"""

import csv
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.core.files import File
from django.db import transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import events
from crm.celery import run_task_on_commit
from crm.consent import suppressed_hashes
from crm.jobs import RESUME_IMPORTS, record_run
from people import csv_files, import_run
from people.columns import check_mapping, guess_mapping, header_key
from people.import_rows import Rejected, RowChecker, account_ids_by_name
from people.models import PeopleImport, RememberedMapping
from targetlists.models import TargetList

logger = logging.getLogger(__name__)
Status = PeopleImport.Status


class CannotStart(ValueError):
    """The import cannot start: say why to the marketer (bad mapping, not in the right state)."""


@dataclass
class PreviewRow:
    number: int
    values: list[str]
    problem: str


def upload(file, *, kind: str, purpose: str, duplicates: str, user=None, **options):
    """A draft import of `file` (any file object), its encoding, delimiter and header read and
    its mapping guessed (or remembered from a file with the same header). `options` may name
    `target_list` (a TargetList) or `new_list_name`, and `consent_text`. Raises
    csv_files.UnreadableFile."""
    encoding, delimiter, header = csv_files.sniff(file)
    target_list = options.get("target_list")
    if not target_list and options.get("new_list_name") and purpose == PeopleImport.Purpose.PEOPLE:
        target_list = TargetList.objects.create(name=options["new_list_name"])
    people_import = PeopleImport(
        kind=kind,
        purpose=purpose,
        duplicates=duplicates,
        target_list=target_list if purpose == PeopleImport.Purpose.PEOPLE else None,
        original_name=_file_name(file),
        encoding=encoding,
        delimiter=delimiter,
        consent_text=options.get("consent_text", "")
        if purpose == PeopleImport.Purpose.PEOPLE
        else "",
        header=header,
        created_by=user,
    )
    people_import.mapping = remembered_mapping(people_import)
    file.seek(0)
    people_import.file.save(people_import.original_name, File(file), save=False)
    people_import.total_bytes = people_import.file.size
    people_import.save()
    return people_import


def _file_name(file) -> str:
    name = Path(str(getattr(file, "name", "") or "")).name.replace("\x00", "")
    return name[:255] or "import.csv"


def remembered_mapping(people_import: PeopleImport) -> list[str]:
    """The mapping chosen last time for this header, else one guessed from the header."""
    key = header_key(people_import.header)
    kind = "suppression" if people_import.is_suppression else people_import.kind
    found = RememberedMapping.objects.filter(kind=kind, header_key=key).first()
    if found and len(found.mapping) == len(people_import.header):
        return found.mapping
    return guess_mapping(people_import.header, people_import.kind, people_import.is_suppression)


def _checker(people_import: PeopleImport, mapping: list[str]) -> RowChecker:
    accounts = None
    if people_import.kind == PeopleImport.Kind.CONTACT and "account" in mapping:
        accounts = account_ids_by_name()
    return RowChecker(
        kind=people_import.kind,
        mapping=mapping,
        suppression=people_import.is_suppression,
        suppressed=frozenset(suppressed_hashes()),
        accounts=accounts,
    )


def preview(people_import: PeopleImport, mapping: list[str], limit: int = 10) -> list[PreviewRow]:
    """The first rows with each one's problem ('' when it would be imported)."""
    checker = _checker(people_import, mapping)
    shown = []
    with people_import.file.open("rb") as raw:
        stream = csv_files.text_stream(raw.file, people_import.encoding)
        for number, row in enumerate(csv_files.rows(stream, people_import.delimiter), start=2):
            try:
                checker.check(row)
                problem = ""
            except Rejected as exc:
                problem = str(exc)
            shown.append(PreviewRow(number, row, problem))
            if len(shown) >= limit:
                break
        stream.detach()
    return shown


def check_problems(people_import: PeopleImport, mapping: list[str] | None = None) -> list[str]:
    """What stops the import from starting with `mapping` (default: its own)."""
    mapping = people_import.mapping if mapping is None else mapping
    problems = check_mapping(mapping, people_import.kind, people_import.is_suppression)
    if len(mapping) != len(people_import.header):
        problems.append(_("The mapping does not match the file's columns."))
    return problems


def start(people_import: PeopleImport, mapping: list[str], enqueue: bool = True) -> None:
    """Save the mapping (remembered for this header) and queue the import; with `enqueue`, its
    Celery task runs it (else the caller runs run_import).

    Raises CannotStart when the mapping is unusable or the import was started already."""
    problems = check_problems(people_import, mapping)
    if problems:
        raise CannotStart(" ".join(problems))
    with transaction.atomic():
        claimed = PeopleImport.objects.filter(pk=people_import.pk, status=Status.DRAFT).update(
            mapping=mapping, status=Status.QUEUED
        )
        if not claimed:
            raise CannotStart(_("This import has already been started."))
        kind = "suppression" if people_import.is_suppression else people_import.kind
        RememberedMapping.objects.update_or_create(
            kind=kind, header_key=header_key(people_import.header), defaults={"mapping": mapping}
        )
        if enqueue:
            run_task_on_commit("people.tasks.run_import", people_import.pk)
    people_import.refresh_from_db()


def resume(people_import: PeopleImport) -> None:
    """Queue a stalled import or undo again: its task goes on from the last batch (or step)
    written. Raises CannotStart when it is not stalled."""
    if not people_import.is_stalled:
        raise CannotStart(_("This import is not stalled: its worker is still writing."))
    undoing = people_import.status == Status.UNDOING
    task = "people.tasks.undo_import" if undoing else "people.tasks.run_import"
    run_task_on_commit(task, people_import.pk)


def resume_stalled() -> int:
    """Queue again every stalled import and undo (their workers were stopped); how many."""
    stalled = list(PeopleImport.objects.filter(PeopleImport.stalled()))
    for people_import in stalled:
        resume(people_import)
    return len(stalled)


def run_recorded_resume_job() -> str:
    """The job "Resume Stalled Imports" (beat or cron), logged as a JobRun; its summary."""
    with record_run(RESUME_IMPORTS) as run:
        run.summary = f"stalled imports queued again: {resume_stalled()}"
    return run.summary


def being_written(import_id: int) -> bool:
    """Whether a worker is importing or undoing the import right now (not stalled)."""
    found = PeopleImport.objects.filter(pk=import_id).first()
    return bool(found) and found.status in (Status.RUNNING, Status.UNDOING) and not found.is_stalled


def run_import(import_id: int) -> PeopleImport | None:
    """Run a queued import to its end, or a stalled one (its worker was stopped) on from its
    last written batch. None if it is neither: another worker has it, or it has ended."""
    now = timezone.now()
    stalled = PeopleImport.stalled() & Q(status=Status.RUNNING)
    claimed = PeopleImport.objects.filter(Q(status=Status.QUEUED) | stalled, pk=import_id).update(
        status=Status.RUNNING, started_at=Coalesce("started_at", Value(now)), heartbeat_at=now
    )
    if not claimed:
        return None
    people_import = PeopleImport.objects.get(pk=import_id)
    try:
        _run(people_import)
    except Exception as exc:  # noqa: BLE001  (the marketer sees it on the import's page)
        logger.exception("import %s failed", import_id)
        PeopleImport.objects.filter(pk=import_id).update(
            status=Status.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
    _forget_upload(import_id)
    people_import.refresh_from_db()
    return people_import


def _run(people_import: PeopleImport) -> None:
    checker = _checker(people_import, people_import.mapping)
    with (
        tempfile.TemporaryFile("w+", encoding="utf-8-sig", newline="") as problems,
        people_import.file.open("rb") as raw,
    ):
        csv.writer(problems).writerow([_("row"), _("problem"), *people_import.header])
        import_run.read_and_write(people_import, raw.file, problems, checker)
        _finish(people_import, problems)


def _finish(people_import: PeopleImport, problems) -> None:
    people_import.refresh_from_db()
    if people_import.skipped or people_import.rejected:
        problems.seek(0)
        name = f"{Path(people_import.original_name).stem}-rejected.csv"
        people_import.rejected_file.save(name, File(problems), save=False)
    people_import.status = Status.DONE
    people_import.finished_at = timezone.now()
    people_import.read_bytes = people_import.total_bytes
    with transaction.atomic():
        people_import.save(update_fields=["rejected_file", "status", "finished_at", "read_bytes"])
        events.record_event(events.IMPORT_FINISHED, _finished_data(people_import))


def _finished_data(people_import: PeopleImport) -> dict:
    return {
        "import_id": people_import.pk,
        "kind": people_import.kind,
        "purpose": people_import.purpose,
        "list_id": people_import.target_list_id,
        "created": people_import.created,
        "updated": people_import.updated,
        "skipped": people_import.skipped,
        "rejected": people_import.rejected,
    }


def delete_import(people_import: PeopleImport) -> None:
    """Delete the import's record and its files (what it imported stays: that is undo)."""
    for stored in (people_import.file, people_import.rejected_file):
        if stored:
            stored.delete(save=False)
    people_import.delete()


def _forget_upload(import_id: int) -> None:
    """Delete the uploaded file once the import has run: nothing reads it again, and it holds
    people's data that an erasure could not reach."""
    people_import = PeopleImport.objects.get(pk=import_id)
    if people_import.file:
        people_import.file.delete(save=False)
        # Only the file's column: the marketer may have asked for the undo meanwhile, and a
        # whole-row save would put the status read above back over it.
        PeopleImport.objects.filter(pk=import_id).update(file="")
