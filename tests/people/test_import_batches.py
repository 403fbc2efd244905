"""How an import writes its batches: across batch boundaries, against concurrent writers, and
how undo gives back what it changed."""

import psycopg
import pytest
from django.db import connection

from crm.models import ConsentRecord, Contact, EmailAddress
from people import import_run, imports
from people.models import ImportedBatch, PeopleImport
from targetlists.models import TargetListEntry
from tests.factories import ContactFactory, EmailAddressFactory, TargetListFactory
from tests.people.importing import rejected_rows, run_file, undo

pytestmark = pytest.mark.django_db


def test_it_keeps_counting_and_skipping_repeats_across_batches(monkeypatch):
    monkeypatch.setattr(import_run, "BATCH_ROWS", 3)
    target_list = TargetListFactory()
    existing = ContactFactory(email_address=EmailAddressFactory(address="p2@example.com"))
    lines = [f"p{n}@example.com,Name{n}" for n in range(10)] + ["P1@EXAMPLE.COM,Again", "bad,x"]
    done = run_file(
        ("email,last name\n" + "\n".join(lines) + "\n").encode(), target_list=target_list
    )

    assert (done.rows, done.created, done.skipped, done.rejected) == (12, 9, 2, 1)
    assert Contact.objects.count() == 10 and EmailAddress.objects.count() == 10
    assert target_list.entries.count() == 10
    assert ImportedBatch.objects.filter(people_import=done).count() == 4
    assert existing.pk in {pk for batch in ImportedBatch.objects.all() for pk in batch.added}
    new = Contact.objects.get(email_address__address_lower="p7@example.com")
    assert (new.last_name, new.email_address.address) == ("Name7", "p7@example.com")
    assert [row[1] for row in rejected_rows(done)[1:]] == [
        "duplicate of an earlier row's address",
        "“bad” is not an email address (no @).",
    ]


def test_it_gives_filled_and_overwritten_fields_back_on_undo_but_not_later_edits():
    kept = ContactFactory(
        email_address=EmailAddressFactory(address="kept@example.com"), first_name="", title="CEO"
    )
    edited = ContactFactory(
        email_address=EmailAddressFactory(address="edited@example.com"), first_name="Eve"
    )
    data = b"email,first name,title\nkept@example.com,Kim,Boss\nedited@example.com,Eva,\n"
    done = run_file(data, duplicates=PeopleImport.Duplicates.OVERWRITE)
    kept.refresh_from_db()
    assert (done.updated, kept.first_name, kept.title) == (2, "Kim", "Boss")
    Contact.objects.filter(pk=edited.pk).update(first_name="Evelyn")  # changed since

    undone = undo(done)

    kept.refresh_from_db()
    edited.refresh_from_db()
    assert (kept.first_name, kept.title) == ("", "CEO")
    assert edited.first_name == "Evelyn"
    assert (undone.removed, undone.restored) == (0, 1)


def test_it_undoes_a_suppression_list_only_where_it_set_the_flag():
    already = EmailAddressFactory(address="already@example.com", opt_out=True)
    flagged = EmailAddressFactory(address="flagged@example.com")
    data = b"email\nalready@example.com\nflagged@example.com\nnew@example.com\n"
    done = run_file(data, purpose=PeopleImport.Purpose.OPT_OUT)
    assert (done.created, done.updated, done.skipped) == (1, 1, 1)
    assert ConsentRecord.objects.filter(action="opt_out").count() == 2

    undo(done)

    already.refresh_from_db()
    flagged.refresh_from_db()
    assert already.opt_out and not flagged.opt_out
    assert not EmailAddress.objects.filter(address_lower="new@example.com").exists()


def test_it_fails_the_import_with_the_reason_when_the_file_breaks_off(monkeypatch):
    monkeypatch.setattr(import_run, "BATCH_ROWS", 2)
    huge = b'"' + b"x" * (1024 * 1024 + 10) + b'"'
    data = b"email,title\na@example.com,A\nb@example.com,B\nc@example.com," + huge + b"\n"
    done = run_file(data)

    assert done.status == "failed" and "field larger than field limit" in done.error
    assert done.created == 2  # the batches written before the break stay, and can be undone
    undo(done)
    assert not Contact.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_writes_a_batch_again_when_another_writer_adds_one_of_its_addresses(settings):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one writer at a time: nobody can come between")
    settings.IMPORT_WRITERS = 0  # batches on this thread's connection, which the hook watches
    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    )
    raced = []

    def add_the_address_first(execute, sql, params, many, context):
        if "nextval" in sql and not raced:  # after the lookup, before the batch's COPY
            raced.append(True)
            other.execute(
                "INSERT INTO crm_emailaddress (address, address_lower, opt_out, invalid, "
                "soft_bounces) VALUES ('Race@example.com', 'race@example.com', false, false, 0)"
            )
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(add_the_address_first):
            done = run_file(b"email\nrace@example.com\nsolo@example.com\n")
    finally:
        other.close()

    assert raced and (done.status, done.created) == ("done", 2)
    address = EmailAddress.objects.get(address_lower="race@example.com")
    assert address.address == "Race@example.com"  # the other writer's row, used, not repeated
    assert Contact.objects.filter(email_address=address).count() == 1
    batch = ImportedBatch.objects.get()
    assert address.pk not in batch.addresses and len(batch.addresses) == 1


def test_it_counts_people_added_to_a_list_they_were_on_as_skipped_and_leaves_the_entry():
    target_list = TargetListFactory()
    person = ContactFactory(email_address=EmailAddressFactory(address="on@example.com"))
    entry = TargetListEntry.objects.create(target_list=target_list, contact=person)
    done = run_file(b"email\non@example.com\n", target_list=target_list)

    assert (done.created, done.skipped) == (0, 1)
    undo(done)
    assert TargetListEntry.objects.filter(pk=entry.pk).exists()


def stop_the_worker_after(batches: int, monkeypatch) -> None:
    """The worker is stopped (as by SIGKILL: nothing runs after) when batch `batches` + 1
    would be written."""
    write = import_run.commit
    written = []

    def write_or_stop(*args):
        if len(written) == batches:
            raise SystemExit("worker stopped")
        written.append(True)
        return write(*args)

    monkeypatch.setattr(import_run, "commit", write_or_stop)


def started(data: bytes, **options) -> PeopleImport:
    import io

    file = io.BytesIO(data)
    file.name = "people.csv"
    people_import = imports.upload(file, kind="contact", purpose="people", duplicates="skip")
    imports.start(people_import, people_import.mapping, enqueue=False)
    return people_import


RESUMED_FILE = (
    "email,last name\n"
    "a0@example.com,A\nbad-1,B\nA0@example.com,Again\n"
    + "".join(f"a{n}@example.com,N{n}\n" for n in range(1, 10))
    + "bad-2,C\n"
).encode()


def assert_resumed_file_imported_once(done: PeopleImport) -> None:
    """RESUMED_FILE imported as by one uninterrupted run: each person once, each problem once."""
    assert (done.status, done.rows, done.created, done.skipped, done.rejected) == (
        "done",
        13,
        10,
        1,
        2,
    )
    assert Contact.objects.count() == 10 and EmailAddress.objects.count() == 10
    assert [row[0] for row in rejected_rows(done)[1:]] == ["3", "4", "14"]


def test_it_goes_on_after_the_last_written_batch_when_its_worker_was_stopped(monkeypatch, settings):
    monkeypatch.setattr(import_run, "BATCH_ROWS", 3)
    draft = started(RESUMED_FILE)
    stop_the_worker_after(2, monkeypatch)
    with pytest.raises(SystemExit):
        imports.run_import(draft.pk)
    stopped = PeopleImport.objects.get()
    assert (stopped.status, stopped.created, stopped.rows) == ("running", 6, 8)
    assert imports.run_import(draft.pk) is None  # not stalled yet: its worker may be writing

    monkeypatch.undo()
    monkeypatch.setattr(import_run, "BATCH_ROWS", 3)
    settings.IMPORT_STALLED_SECONDS = 0
    assert PeopleImport.objects.get().is_stalled
    done = imports.run_import(draft.pk)

    assert_resumed_file_imported_once(done)


def test_it_offers_to_go_on_with_a_stalled_import_and_queues_its_task(
    marketer_client, monkeypatch, settings, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    draft = started(RESUMED_FILE)
    stop_the_worker_after(0, monkeypatch)
    with pytest.raises(SystemExit):
        imports.run_import(draft.pk)
    detail_url = reverse("admin:people_peopleimport_change", args=[draft.pk])
    assert "Go on where it stopped" not in marketer_client.get(detail_url).content.decode()

    settings.IMPORT_STALLED_SECONDS = 0
    assert "Go on where it stopped" in marketer_client.get(detail_url).content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resume_url = reverse("admin:people_import_resume", args=[draft.pk])
        response = marketer_client.post(resume_url, follow=True)
    assert "The import goes on where it stopped." in response.content.decode()
    assert len(callbacks) == 1


def test_its_task_checks_back_while_another_worker_writes_the_import(monkeypatch):
    from celery.exceptions import Retry

    from people.tasks import run_import as task

    draft = started(RESUMED_FILE)
    stop_the_worker_after(0, monkeypatch)
    with pytest.raises(SystemExit):
        imports.run_import(draft.pk)  # now "running", with a fresh heartbeat

    task.push_request(called_directly=False, is_eager=True, retries=0, args=[draft.pk], kwargs={})
    try:
        with pytest.raises(Retry):
            task.run(draft.pk)
    finally:
        task.pop_request()


@pytest.mark.django_db(transaction=True)
def test_its_writer_threads_leave_gaps_when_stopped_that_the_next_run_fills(monkeypatch, settings):
    if connection.vendor != "postgresql":
        pytest.skip("writer threads are for PostgreSQL; SQLite takes one writer at a time")
    settings.IMPORT_WRITERS = 2
    monkeypatch.setattr(import_run, "BATCH_ROWS", 2)
    write = import_run.commit

    def second_batch_stops(writer, batch):
        if batch.first_row == 5:  # a2 and a3: the other writer goes on meanwhile
            raise SystemExit("worker stopped")
        return write(writer, batch)

    monkeypatch.setattr(import_run, "commit", second_batch_stops)
    draft = started(RESUMED_FILE)
    with pytest.raises(SystemExit):
        imports.run_import(draft.pk)
    stopped = PeopleImport.objects.get()
    assert stopped.status == "running" and stopped.created < 10
    assert not Contact.objects.filter(email_address__address_lower="a2@example.com").exists()

    monkeypatch.setattr(import_run, "commit", write)
    settings.IMPORT_STALLED_SECONDS = 0
    done = imports.run_import(draft.pk)

    assert_resumed_file_imported_once(done)


def test_it_updates_many_existing_records_of_every_kind_in_one_batch():
    from crm.models import Account, Lead
    from tests.factories import AccountFactory, LeadFactory

    for n in range(30):
        ContactFactory(email_address=EmailAddressFactory(address=f"c{n}@example.com"), title="")
        LeadFactory(email_address=EmailAddressFactory(address=f"l{n}@example.com"), source="")
        AccountFactory(email_address=EmailAddressFactory(address=f"a{n}@example.com"), website="")
    fill = PeopleImport.Duplicates.UPDATE
    contacts = "email,title\n" + "".join(f"c{n}@example.com,Buyer {n}\n" for n in range(30))
    leads = "email,source\n" + "".join(f"l{n}@example.com,Fair {n}\n" for n in range(30))
    accounts = "email,name,website\n" + "".join(
        f"a{n}@example.com,Ignored,https://a{n}.example\n" for n in range(30)
    )

    assert run_file(contacts.encode(), duplicates=fill).updated == 30
    assert run_file(leads.encode(), kind="lead", duplicates=fill).updated == 30
    assert run_file(accounts.encode(), kind="account", duplicates=fill).updated == 30
    assert Contact.objects.get(email_address__address_lower="c7@example.com").title == "Buyer 7"
    assert Lead.objects.get(email_address__address_lower="l7@example.com").source == "Fair 7"
    account = Account.objects.get(email_address__address_lower="a7@example.com")
    assert account.website == "https://a7.example" and account.name != "Ignored"


def test_the_job_queues_stalled_imports_again_and_its_beat_entry_exists(
    monkeypatch, settings, django_capture_on_commit_callbacks, capsys
):
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    draft = started(RESUMED_FILE)
    stop_the_worker_after(0, monkeypatch)
    with pytest.raises(SystemExit):
        imports.run_import(draft.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("resume_imports")
    assert capsys.readouterr().out == "stalled imports queued again: 0\n" and not callbacks

    settings.IMPORT_STALLED_SECONDS = 0
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("resume_imports")
    assert capsys.readouterr().out == "stalled imports queued again: 1\n" and len(callbacks) == 1
    entry = PeriodicTask.objects.get(name="Resume Stalled Imports")
    assert (entry.task, entry.crontab.minute) == ("people.tasks.resume_stalled_imports", "*/5")


def test_an_undo_waiting_for_its_task_is_queued_not_stalled_however_old_the_import(settings):
    from datetime import timedelta

    from django.utils import timezone

    from people import import_undo

    done = run_file(b"email\na@example.com\n")
    PeopleImport.objects.update(started_at=timezone.now() - timedelta(days=1))
    import_undo.request_undo(PeopleImport.objects.get())
    settings.IMPORT_STALLED_SECONDS = 0

    assert not PeopleImport.objects.get().is_stalled
    assert imports.resume_stalled() == 0
    import_undo.run_undo(done.pk)
    assert PeopleImport.objects.get().status == "undone"
