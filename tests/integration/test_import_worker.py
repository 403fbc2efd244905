"""A 100,000-row CSV import run by a real Celery worker, with its rejected-rows file checked."""

import csv
import io
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Contact, EmailAddress
from people import import_run, import_undo, imports
from people.models import PeopleImport
from targetlists.models import TargetList
from tests.integration.conftest import forget_unacked_messages, on_postgresql

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ROWS = 100_000
WAIT = 300  # seconds: a generous deadline for the worker to finish, never a timing assertion


def contacts_file() -> io.BytesIO:
    """ROWS rows in Windows-1252 with `;`: every 1,000th address bad, every 500th repeated."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["Correo electrónico", "Nombre", "Apellidos"])
    for n in range(ROWS):
        if n % 1000 == 999:
            writer.writerow([f"no-address-{n}", "José", "Müller"])
        elif n % 500 == 250:
            writer.writerow([f"PERSON{n - 1}@example.com", "Dup", "Licate"])
        else:
            writer.writerow([f"person{n}@example.com", "José", "Müller"])
    data = io.BytesIO(out.getvalue().encode("cp1252"))
    data.name = "contacts.csv"
    return data


def wait_until_finished(import_id: int) -> PeopleImport:
    deadline = time.monotonic() + WAIT
    while True:
        row = PeopleImport.objects.get(pk=import_id)
        if row.status in (PeopleImport.Status.DONE, PeopleImport.Status.FAILED, "undone"):
            return row
        if time.monotonic() > deadline:
            pytest.fail(f"the import did not finish within {WAIT}s: {row.status} {row.rows}")
        time.sleep(0.5)


def imported_in_the_worker(settings, target_list: TargetList) -> PeopleImport:
    """contacts_file() uploaded, started, and imported by the worker into `target_list`."""
    settings.MEDIA_ROOT = settings.VAR_DIR / "media"  # where the worker reads uploads
    draft = imports.upload(
        contacts_file(),
        kind="contact",
        purpose="people",
        duplicates="skip",
        target_list=target_list,
    )
    assert draft.encoding == "cp1252" and draft.delimiter == ";"
    imports.start(draft, draft.mapping)  # the task is sent when the transaction commits
    return wait_until_finished(draft.pk)


def assert_imported_once(done: PeopleImport, target_list: TargetList) -> None:
    """contacts_file() imported as by one uninterrupted run: each person once, each problem once."""
    bad, repeated = ROWS // 1000, ROWS // 500
    assert done.status == "done", done.error
    assert (done.rows, done.rejected, done.skipped) == (ROWS, bad, repeated)
    assert done.created == ROWS - bad - repeated
    assert Contact.objects.count() == done.created == EmailAddress.objects.count()
    assert target_list.entries.count() == done.created
    assert Contact.objects.filter(first_name="José", last_name="Müller").count() == done.created
    with done.rejected_file.open("rb") as raw:
        rows = list(csv.reader(io.StringIO(raw.read().decode("utf-8-sig"), newline="")))
    assert rows[0] == ["row", "problem", "Correo electrónico", "Nombre", "Apellidos"]
    assert len(rows) == 1 + bad + repeated
    problems = {int(row[0]): row[1] for row in rows[1:]}
    assert problems[1001] == "“no-address-999” is not an email address (no @)."
    assert problems[252] == "duplicate of an earlier row's address"


def test_it_imports_100000_rows_in_the_worker(worker, settings):
    target_list = TargetList.objects.create(name="Imported")
    assert_imported_once(imported_in_the_worker(settings, target_list), target_list)


def test_it_undoes_the_100000_rows_in_the_worker(worker, settings):
    target_list = TargetList.objects.create(name="Imported, then undone")
    done = imported_in_the_worker(settings, target_list)
    assert done.status == "done", done.error

    import_undo.request_undo(done)  # the undo's task is sent when the transaction commits
    undone = wait_until_finished(done.pk)

    assert undone.status == "undone"
    assert not Contact.objects.exists() and not EmailAddress.objects.exists()
    assert not target_list.entries.exists()
    assert undone.undo_removed == 2 * done.created  # the contacts and their list entries


@pytest.mark.skipif(not on_postgresql(), reason="SIGKILL recovery needs PostgreSQL")
def test_an_import_whose_worker_is_killed_halfway_goes_on_and_writes_everyone_once(
    workers, settings
):
    workers.stop_all()  # only the victim may take the import
    victim = workers.start("victim")
    settings.MEDIA_ROOT = settings.VAR_DIR / "media"
    target_list = TargetList.objects.create(name="Imported through a crash")
    draft = imports.upload(
        contacts_file(),
        kind="contact",
        purpose="people",
        duplicates="skip",
        target_list=target_list,
    )
    imports.start(draft, draft.mapping)
    deadline = time.monotonic() + WAIT
    while PeopleImport.objects.get(pk=draft.pk).rows < import_run.BATCH_ROWS:
        assert time.monotonic() < deadline, "no batch was written"
        time.sleep(0.05)
    victim.kill()
    forget_unacked_messages()
    stopped = PeopleImport.objects.get(pk=draft.pk)
    assert stopped.status == "running" and stopped.rows < ROWS  # killed mid-way

    # Time passes beyond IMPORT_STALLED_SECONDS; the marketer presses "Go on where it stopped".
    long_ago = timezone.now() - timedelta(seconds=settings.IMPORT_STALLED_SECONDS + 60)
    PeopleImport.objects.filter(pk=draft.pk).update(heartbeat_at=long_ago)
    workers.start("rescuer")
    imports.resume(PeopleImport.objects.get(pk=draft.pk))

    assert_imported_once(wait_until_finished(draft.pk), target_list)
