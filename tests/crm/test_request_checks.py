"""Admin forms and searches never answer 500: NUL characters, over-long values, odd ids and
oversized forms get a form error or a page in the admin's look (crm.request_checks,
crm.error_pages)."""

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.models import Contact, EmailTemplate
from tests.factories import ContactFactory, EmailTemplateFactory, MassEmailFactory

pytestmark = pytest.mark.django_db

NASTY = ["\x00", "a\x00b", "%", "_", "\\", "'", '"', "é" * 3000, "x" * 10_000, "𝔘", " ", "\t\n"]


def changelists() -> list[str]:
    return sorted(
        reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist")
        for m, model_admin in admin.site._registry.items()
        if model_admin.search_fields
    )


def assert_refused_nul(response, field: str) -> None:
    body = response.content.decode()
    assert response.status_code == 400
    assert "NUL character" in body
    assert f"“{field}”" in body
    assert 'id="site-name"' in body  # the admin's look, with its header


def test_the_template_previews_person_search_refuses_nul(admin_client):
    template = EmailTemplateFactory()
    url = reverse("admin:crm_emailtemplate_preview", args=[template.pk])

    assert_refused_nul(admin_client.get(f"{url}?q=%00"), "q")
    assert admin_client.get(f"{url}?q={'z' * 5000}").status_code == 200


@pytest.mark.parametrize("value", ["abc", "1.5", "9" * 30, "-1", "%00x"])
def test_the_template_preview_answers_404_for_an_odd_id(admin_client, value):
    template = EmailTemplateFactory()
    url = reverse("admin:crm_emailtemplate_preview", args=[template.pk])
    odd = f"/admin/crm/emailtemplate/{value}/preview/"

    assert admin_client.get(odd).status_code in (400, 404)
    assert admin_client.get(f"{url}?type=contact&id={value}").status_code in (400, 404)


@pytest.mark.parametrize("url", changelists())
def test_every_changelist_search_takes_any_text(admin_client, url):
    for value in NASTY:
        response = admin_client.get(url, {"q": value})
        if "\x00" in value:
            assert_refused_nul(response, "q")
        else:
            assert response.status_code in (200, 302), (url, value[:20])


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(url=st.sampled_from(changelists()), q=st.text(max_size=300), page=st.text(max_size=10))
def test_any_search_and_page_number_gets_a_page(admin_client, url, q, page):
    response = admin_client.get(url, {"q": q, "p": page, "o": page})

    assert response.status_code in (200, 302, 400, 404), (url, q, page)


def test_the_autocomplete_takes_any_term(admin_client):
    ContactFactory()
    base = {"app_label": "campaigns", "model_name": "emailqueueitem", "field_name": "contact"}
    for term in NASTY:
        response = admin_client.get("/admin/autocomplete/", {**base, "term": term})
        assert response.status_code == (400 if "\x00" in term else 200), term[:20]


@pytest.mark.parametrize("page", ["abc", "-1", "0", "9" * 25, ""])
def test_the_autocomplete_takes_any_page_number(admin_client, page):
    ContactFactory()
    params = {"app_label": "campaigns", "model_name": "emailqueueitem", "field_name": "contact"}

    response = admin_client.get("/admin/autocomplete/", {**params, "term": "a", "page": page})

    assert response.status_code in (200, 404)


def test_a_form_with_nul_is_refused_and_saves_nothing(admin_client):
    data = {"first_name": "Ann\x00", "last_name": "Lee", "email": "ann@example.com"}

    response = admin_client.post(reverse("admin:crm_contact_add"), data)

    assert_refused_nul(response, "first_name")
    assert not Contact.objects.exists()


def test_a_multipart_form_with_nul_in_a_text_field_is_refused_but_files_may_hold_any_byte(
    admin_client,
):
    template = EmailTemplateFactory()
    url = reverse("admin:crm_emailtemplate_change", args=[template.pk])
    data = {
        "name": "Binary attachment",
        "subject": "Hi",
        "body_html": "<p>Hi</p>",
        "body_text": "",
        "attachments-TOTAL_FORMS": "1",
        "attachments-INITIAL_FORMS": "0",
        "attachments-0-file": SimpleUploadedFile("a.bin", b"\x00\x01\x02", "application/x"),
        "attachments-0-name": "",
    }

    saved = admin_client.post(url, data)
    refused = admin_client.post(url, {**data, "subject": "H\x00i"})

    assert saved.status_code == 302, saved.content.decode()[:3000]
    assert template.attachments.count() == 1
    assert_refused_nul(refused, "subject")


def test_a_public_page_refuses_nul_in_its_language(client):
    response = client.get("/t/u/x/?a=%00", HTTP_ACCEPT_LANGUAGE="es")

    assert response.status_code == 400
    assert '<html lang="es">' in response.content.decode()


def test_a_three_megabyte_template_is_saved(admin_client):
    body = "<p>" + "x" * (3 * 1024 * 1024) + "</p>"
    data = {
        "name": "Big",
        "subject": "Big",
        "body_html": body,
        "body_text": "",
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
    }

    response = admin_client.post(reverse("admin:crm_emailtemplate_add"), data)

    assert response.status_code == 302
    assert len(EmailTemplate.objects.get().body_html) == len(body)


@pytest.mark.parametrize("multipart", [False, True])
def test_a_form_over_the_limit_gets_a_413_page_in_the_admins_look(admin_client, multipart):
    from django.conf import settings as django_settings

    limit = django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    data = {"name": "Huge", "subject": "Huge", "body_html": "x" * (limit + 10)}
    url = reverse("admin:crm_emailtemplate_add")
    if multipart:
        response = admin_client.post(url, data)
    else:
        from urllib.parse import urlencode

        response = admin_client.post(
            url, urlencode(data), content_type="application/x-www-form-urlencoded"
        )

    body = response.content.decode()
    assert response.status_code == 413
    assert "The form is too big" in body
    assert f"at most {limit // (1024 * 1024)} MB" in body
    assert 'id="site-name"' in body
    assert not EmailTemplate.objects.exists()


def add_pages() -> list[str]:
    return sorted(
        reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_add") for m in admin.site._registry
    )


@pytest.mark.parametrize("url", add_pages())
def test_every_add_form_answers_over_long_values_with_errors(admin_client, url):
    page = admin_client.get(url)
    if page.status_code != 200:
        return  # no add page for this model (settings rows, read-only records)
    form = page.context["adminform"].form
    data = {name: "x" * 10_000 for name in form.fields}

    response = admin_client.post(url, data)

    assert response.status_code in (200, 302, 400), url


@pytest.mark.parametrize("value", ["x", "9" * 30, "-1", "1.5"])
def test_a_tampered_choice_in_an_autocomplete_is_a_form_error(admin_client, value):
    mass_email = MassEmailFactory()
    url = reverse("admin:campaigns_massemail_send_test", args=[mass_email.pk])

    response = admin_client.post(url, {"contacts": [value], "addresses": ""})
    person = admin_client.post(
        reverse("admin:crm_contact_add"), {"first_name": "A", "last_name": "B", "account": value}
    )

    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert person.status_code == 200
    assert "account" in person.context["adminform"].form.errors
