import pytest

from crm.models import Account, Contact, EmailAddress, Lead
from people import imports
from people.models import PeopleImport
from targetlists.models import TargetListEntry
from tests.factories import AccountFactory, ContactFactory, EmailAddressFactory, TargetListFactory
from tests.people.importing import rejected_rows, run_file

pytestmark = pytest.mark.django_db


def test_it_imports_utf8_with_a_bom_and_semicolons():
    data = "Email;Nombre;Apellidos\nana@example.com;Ana;Pérez\nbo@example.com;Bo;Müller\n"
    done = run_file(codecs_bom() + data.encode())

    assert (done.encoding, done.delimiter) == ("utf-8-sig", ";")
    assert (done.status, done.created, done.rejected) == ("done", 2, 0)
    ana = Contact.objects.get(email_address__address_lower="ana@example.com")
    assert (ana.first_name, ana.last_name) == ("Ana", "Pérez")


def codecs_bom() -> bytes:
    return b"\xef\xbb\xbf"


def test_it_reads_windows_1252_names():
    data = "email,first name,last name\r\njose@example.com,José,Müller\r\n".encode("cp1252")
    done = run_file(data)

    assert done.encoding == "cp1252"
    jose = Contact.objects.get()
    assert (jose.first_name, jose.last_name) == ("José", "Müller")


def test_it_keeps_quoted_newlines_and_tabs():
    data = b'E-mail\tName\tTitle\n"zoe@example.com"\t"Zoe Ray"\t"Head of\nSales"\n'
    done = run_file(data)

    assert done.delimiter == "\t"
    zoe = Contact.objects.get()
    assert (zoe.first_name, zoe.last_name, zoe.title) == ("Zoe", "Ray", "Head of\nSales")


def test_it_skips_duplicates_in_the_file_and_rejects_bad_rows_with_reasons():
    long_address = "x" * 250 + "@example.com"
    data = (
        "email,last name\n"
        "a@example.com,One\n"
        "A@Example.com,Again\n"
        "not-an-address,Bad\n"
        f"{long_address},Long\n"
        "b@nodomain,NoDomain\n"
        ",Empty\n"
        "c@example.com," + "L" * 101 + "\n"
    ).encode()
    done = run_file(data)

    assert (done.created, done.skipped, done.rejected, done.rows) == (1, 1, 5, 7)
    rows = rejected_rows(done)
    assert rows[0][:3] == ["row", "problem", "email"]
    problems = {row[0]: row[1] for row in rows[1:]}
    assert problems["3"] == "duplicate of an earlier row's address"
    assert problems["4"] == "“not-an-address” is not an email address (no @)."
    assert "longer than 64 characters" in problems["5"]
    assert problems["6"] == "The domain of b@nodomain is not a valid domain."
    assert problems["7"] == "no email address"
    assert problems["8"].startswith("Last name too long")
    assert rows[1][2:] == ["A@Example.com", "Again"]


def test_it_skips_or_fills_or_overwrites_records_that_exist():
    ContactFactory(
        email_address=EmailAddressFactory(address="old@example.com"),
        first_name="",
        last_name="Kept",
    )
    data = b"email,first name,last name\nOLD@example.com,Olga,New\n"

    skipped = run_file(data)
    assert (skipped.created, skipped.skipped) == (0, 1)
    filled = run_file(data, duplicates=PeopleImport.Duplicates.UPDATE)
    contact = Contact.objects.get()
    assert (filled.updated, contact.first_name, contact.last_name) == (1, "Olga", "Kept")
    overwritten = run_file(data, duplicates=PeopleImport.Duplicates.OVERWRITE)
    contact.refresh_from_db()
    assert (overwritten.updated, contact.last_name) == (1, "New")
    assert Contact.objects.count() == 1 and EmailAddress.objects.count() == 1


def test_it_links_contacts_to_accounts_by_name_and_rejects_unknown_ones():
    acme = AccountFactory(name="Acme Corp")
    data = b"email,company\na@example.com,acme corp\nb@example.com,Nobody Inc\n"
    done = run_file(data)

    assert (done.created, done.rejected) == (1, 1)
    assert Contact.objects.get().account == acme
    assert rejected_rows(done)[1][1] == "unknown account: Nobody Inc"


def test_it_puts_everyone_into_the_target_list_once():
    target_list = TargetListFactory()
    existing = ContactFactory(email_address=EmailAddressFactory(address="in@example.com"))
    TargetListEntry.objects.create(target_list=target_list, contact=existing)
    data = b"email\nin@example.com\nnew@example.com\n"
    done = run_file(data, target_list=target_list)

    assert (done.created, done.skipped) == (1, 1)
    assert target_list.entries.count() == 2


def test_it_creates_a_new_target_list_by_name():
    done = run_file(b"email\na@example.com\n", new_list_name="Fair 2026")
    assert done.target_list.name == "Fair 2026"
    assert done.target_list.entries.count() == 1


def test_it_imports_leads_and_accounts():
    run_file(b"email,last name,company,source\nl@example.com,Lane,Acme,Fair\n", kind="lead")
    lead = Lead.objects.get()
    assert (lead.last_name, lead.account_name, lead.source, lead.status) == (
        "Lane",
        "Acme",
        "Fair",
        "new",
    )
    done = run_file(
        b"name,email,website\nAcme,info@acme.example,https://acme.example\n,x@y.com,\n",
        kind="account",
    )
    assert (done.created, done.rejected) == (1, 1)
    assert Account.objects.get().website == "https://acme.example"


def test_it_marks_a_suppression_list_opted_out_without_creating_people():
    known = EmailAddressFactory(address="known@example.com")
    done = run_file(
        b"email\nknown@example.com\nfresh@example.com\n",
        purpose=PeopleImport.Purpose.OPT_OUT,
    )

    assert (done.created, done.updated) == (1, 1)
    assert set(EmailAddress.objects.values_list("address_lower", "opt_out")) == {
        ("known@example.com", True),
        ("fresh@example.com", True),
    }
    assert not Contact.objects.exists()
    assert known.consent_records.get().method == "import"


def test_it_remembers_the_mapping_for_the_same_header():
    first = run_file(b"Col A,Col B\nA@example.com,Ann\n", mapping=["email", "first_name"])
    assert first.created == 1
    file = __import__("io").BytesIO(b"col a,COL B\nb@example.com,Bea\n")
    again = imports.upload(file, kind="contact", purpose="people", duplicates="skip")
    assert again.mapping == ["email", "first_name"]


def test_it_previews_rows_with_their_problems():
    file = __import__("io").BytesIO(b"email,name\ngood@example.com,Good One\nbad,Bad\n")
    draft = imports.upload(file, kind="contact", purpose="people", duplicates="skip")
    rows = imports.preview(draft, draft.mapping)

    assert [(row.number, row.problem[:14]) for row in rows] == [(2, ""), (3, "“bad” is not a")]


def test_it_refuses_a_mapping_without_an_email_column():
    file = __import__("io").BytesIO(b"who\nsomeone\n")
    draft = imports.upload(file, kind="contact", purpose="people", duplicates="skip")
    with pytest.raises(imports.CannotStart, match="email address"):
        imports.start(draft, [""])


def test_it_deletes_the_uploaded_file_once_imported():
    done = run_file(b"email\na@example.com\n")
    assert not done.file


def test_an_undo_asked_for_while_the_upload_is_deleted_is_not_lost(monkeypatch):
    """The marketer may press Undo as soon as the import says Done, while its worker still
    deletes the upload: the deletion writes only the file's column, not the status it read."""
    from django.core.files.storage import FileSystemStorage

    from people import import_undo

    delete = FileSystemStorage.delete

    def undo_meanwhile(storage, name):
        import_undo.request_undo(PeopleImport.objects.get(file=name))
        delete(storage, name)

    monkeypatch.setattr(FileSystemStorage, "delete", undo_meanwhile)
    done = run_file(b"email\na@example.com\n")
    assert not done.file
    assert done.status == PeopleImport.Status.UNDOING
    assert import_undo.run_undo(done.pk).removed == 1


def test_it_reads_utf16_with_a_bom_and_bytes_windows_1252_leaves_undefined():
    utf16 = run_file("email\tnombre\nines@example.com\tInés\n".encode("utf-16"))
    assert utf16.encoding == "utf-16" and Contact.objects.get().first_name == "Inés"

    latin1 = run_file(b"email,last name\nx@example.com,M\x81ller\xe9\n")
    assert latin1.encoding == "latin-1"
    assert Contact.objects.get(last_name__startswith="M").last_name == "M\x81ller\xe9"


def test_it_reports_a_field_with_too_many_characters_and_goes_on():
    data = b"email,phone\na@example.com," + b"1" * 51 + b"\nb@example.com,123\n"
    done = run_file(data)
    assert (done.created, done.rejected) == (1, 1)
    assert rejected_rows(done)[1][1] == "Phone too long (more than 50 characters)"


def test_it_records_the_consent_people_gave_for_everyone_it_adds_to_the_list():
    from crm.models import ConsentRecord

    target_list = TargetListFactory()
    ContactFactory(email_address=EmailAddressFactory(address="old@example.com"))
    done = run_file(
        b"email\nold@example.com\nnew@example.com\n",
        target_list=target_list,
        consent_text="Signed up at the 2025 fair",
    )

    records = ConsentRecord.objects.order_by("email")
    assert [(r.email, r.action, r.method) for r in records] == [
        ("new@example.com", "opt_in", "import"),
        ("old@example.com", "opt_in", "import"),
    ]
    assert records[0].contact == Contact.objects.get(email_address__address_lower="new@example.com")
    assert records[0].text == "Signed up at the 2025 fair" and records[0].source == str(done)


def test_it_rejects_a_row_with_a_nul_character_and_imports_the_others():
    done = run_file(b"email,last name\na@example.com,Nu\x00ll\nb@example.com,Fine\n")
    assert (done.status, done.created, done.rejected) == ("done", 1, 1)
    assert rejected_rows(done)[1][1] == "Last name contains a NUL character"


def test_it_drops_nul_characters_from_the_header():
    done = run_file(b"email,na\x00me\na@example.com,A\n")
    assert done.header == ["email", "name"] and done.created == 1
