import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact
from people import import_undo, imports
from people.models import PeopleImport
from tests.factories import SentQueueItemFactory, TargetListFactory
from tests.people.importing import run_file

pytestmark = pytest.mark.django_db


def upload(client, data: bytes, **fields):
    form = {
        "file": SimpleUploadedFile("fair.csv", data, content_type="text/csv"),
        "kind": "contact",
        "purpose": "people",
        "duplicates": "skip",
        **fields,
    }
    return client.post(reverse("admin:people_peopleimport_add"), form)


def test_it_uploads_maps_previews_and_starts_an_import(
    marketer_client, django_capture_on_commit_callbacks
):
    target_list = TargetListFactory()
    response = upload(
        marketer_client,
        b"Correo;Nombre\nana@example.com;Ana\nmal;Malo\n",
        target_list=target_list.pk,
    )
    draft = PeopleImport.objects.get()
    mapping_url = reverse("admin:people_peopleimport_mapping", args=[draft.pk])
    assert response.url == mapping_url

    page = marketer_client.get(mapping_url).content.decode()
    assert 'name="column_0"' in page and '<option value="email" selected>' in page
    assert "“mal” is not an email address (no @)." in page

    with django_capture_on_commit_callbacks() as callbacks:
        response = marketer_client.post(
            mapping_url, {"column_0": "email", "column_1": "first_name", "start": "1"}
        )
    assert len(callbacks) == 1  # the Celery task, queued once the transaction commits
    detail_url = reverse("admin:people_peopleimport_change", args=[draft.pk])
    assert response.url == detail_url
    imports.run_import(draft.pk)

    page = marketer_client.get(detail_url).content.decode()
    assert "Download the rows not imported" in page and "Undo this import" in page
    progress = marketer_client.get(reverse("admin:people_import_progress", args=[draft.pk]))
    assert progress.json()["created"] == 1 and progress.json()["percent"] == 100
    rejected = marketer_client.get(reverse("admin:people_import_rejected", args=[draft.pk]))
    assert "“mal” is not an email address".encode() in b"".join(rejected.streaming_content)
    assert target_list.entries.count() == 1


def test_it_says_why_a_mapping_cannot_start(marketer_client):
    upload(marketer_client, b"email,name\na@example.com,A\n")
    draft = PeopleImport.objects.get()
    url = reverse("admin:people_peopleimport_mapping", args=[draft.pk])

    page = marketer_client.post(url, {"column_0": "", "column_1": "", "start": "1"})

    assert "Choose the column that holds the email address." in page.content.decode()
    assert PeopleImport.objects.get().status == "draft"


def test_it_refuses_a_binary_file(marketer_client):
    response = upload(marketer_client, b"\x00\x01\x02PK")
    assert "This file cannot be read as CSV" in response.content.decode()


def test_it_undoes_an_import_in_its_task_until_someone_is_mailed(
    marketer_client, django_capture_on_commit_callbacks
):
    target_list = TargetListFactory()
    upload(marketer_client, b"email\na@example.com\nb@example.com\n", target_list=target_list.pk)
    draft = PeopleImport.objects.get()
    imports.start(draft, draft.mapping)
    imports.run_import(draft.pk)
    undo_url = reverse("admin:people_import_undo", args=[draft.pk])
    detail_url = reverse("admin:people_peopleimport_change", args=[draft.pk])

    SentQueueItemFactory(contact=Contact.objects.first(), sent_at=timezone.now())
    marketer_client.post(undo_url)
    assert Contact.objects.count() == 2  # mailed: no undo
    assert PeopleImport.objects.get().status == "done"

    Contact.objects.first().emailqueueitem_set.all().delete()
    with django_capture_on_commit_callbacks() as callbacks:
        response = marketer_client.post(undo_url, follow=True)
    assert "The import is being undone." in response.content.decode()
    assert len(callbacks) == 1 and PeopleImport.objects.get().status == "undoing"
    assert Contact.objects.count() == 2  # the task does it, not the request

    import_undo.run_undo(draft.pk)
    assert not Contact.objects.exists()
    assert not target_list.entries.exists()
    page = marketer_client.get(detail_url).content.decode()
    assert PeopleImport.objects.get().status == "undone"
    assert 'Removed by the undo</th><td data-field="undo_removed">4</td>' in page


def test_it_leaves_an_import_finished_when_someone_was_mailed_before_its_undo_ran():
    done = run_file(b"email\na@example.com\n")
    import_undo.request_undo(done)
    SentQueueItemFactory(contact=Contact.objects.get(), sent_at=timezone.now())

    assert import_undo.run_undo(done.pk) is None
    assert PeopleImport.objects.get().status == "done" and Contact.objects.exists()


def test_it_hides_imports_from_users_without_permission(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True))
    assert client.get(reverse("admin:people_peopleimport_add")).status_code == 403


def test_it_deletes_an_import_with_its_files(marketer_client):
    upload(marketer_client, b"email\nbad\n")
    draft = PeopleImport.objects.get()
    imports.start(draft, draft.mapping)
    done = imports.run_import(draft.pk)
    path = done.rejected_file.path

    url = reverse("admin:people_peopleimport_delete", args=[draft.pk])
    marketer_client.post(url, {"post": "yes"})

    assert not PeopleImport.objects.exists()
    assert not __import__("os").path.exists(path)
