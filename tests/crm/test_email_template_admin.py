import html

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.models import EmailTemplate, EmailTemplateAttachment
from tests.factories import (
    ContactFactory,
    EmailTemplateFactory,
    LeadFactory,
    MarketerFactory,
    TrackingUrlFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(client):
    user = MarketerFactory(first_name="Mia", last_name="Marketer")
    client.force_login(user)
    return user


def post_template(client, **fields):
    form = {
        "name": "Spring news",
        "subject": "Hello {Person.firstName}",
        "body_html": "<p>Dear {Person.name}</p>",
        "body_text": "",
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
        **fields,
    }
    return client.post(reverse("admin:crm_emailtemplate_add"), form)


def test_it_saves_a_template_with_known_placeholders(client, marketer):
    link = TrackingUrlFactory()
    response = post_template(
        client,
        body_html=f"<p>{{Contact.account.name}} {{today}} <a href='{link.code}'>x</a></p>"
        "<style>p{color:red}</style>{optOutLink} {Person.firstName|there}",
    )

    assert response.status_code == 302
    assert EmailTemplate.objects.get().name == "Spring news"


def test_it_names_an_unknown_placeholder_on_its_field(client, marketer):
    response = post_template(client, body_html="<p>Hi {Person.shoeSize}</p>")

    errors = response.context["adminform"].form.errors
    assert errors["body_html"] == ["Unknown placeholder {Person.shoeSize}."]
    assert not EmailTemplate.objects.exists()


def test_it_names_a_malformed_placeholder(client, marketer):
    response = post_template(client, subject="Hi {Person.firstName")

    errors = response.context["adminform"].form.errors
    assert errors["subject"] == ["Placeholder {Person.firstName is not closed with }."]


def test_it_refuses_a_subject_that_would_add_a_header(client, marketer):
    response = post_template(client, subject="Hi {Person.firstName}\r\nBcc: all@victims.test")

    errors = response.context["adminform"].form.errors
    assert "The subject must be a single line." in errors["subject"]
    assert not EmailTemplate.objects.exists()


def test_it_refuses_a_template_without_a_body(client, marketer):
    response = post_template(client, body_html="", body_text="  ")

    assert "Write an HTML body, a plain-text body, or both." in response.content.decode()


def test_it_links_the_preview_from_the_change_page(client, marketer):
    template = EmailTemplateFactory()

    response = client.get(reverse("admin:crm_emailtemplate_change", args=[template.pk]))

    preview_url = reverse("admin:crm_emailtemplate_preview", args=[template.pk])
    assert preview_url in response.content.decode()


def test_it_previews_for_the_sample_person_by_default_or_for_me(client, marketer):
    template = EmailTemplateFactory(subject="Hi {Person.firstName}", body_text="Bye {Person.name}")
    url = reverse("admin:crm_emailtemplate_preview", args=[template.pk])

    response = client.get(url)

    assert response.status_code == 200
    assert response.context["rendered"]["subject"] == "Hi Alex"
    assert response.context["rendered"]["text"] == "Bye Alex Morgan"
    assert client.get(url, {"type": "me"}).context["rendered"]["text"] == "Bye Mia Marketer"


def test_it_previews_for_a_chosen_contact_with_html_escaped_in_a_sandbox(client, marketer):
    contact = ContactFactory(first_name='<script>alert("x")</script>', last_name="Lee")
    template = EmailTemplateFactory(body_html="<p>Dear {Person.firstName}</p>")
    url = reverse("admin:crm_emailtemplate_preview", args=[template.pk])

    response = client.get(url, {"type": "contact", "id": contact.pk})

    rendered = response.context["rendered"]["html"]
    assert rendered == "<p>Dear &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</p>"
    page = response.content.decode()
    assert 'sandbox=""' in page
    # The srcdoc attribute holds the rendered HTML, escaped once more as an attribute value.
    assert f'srcdoc="{html.escape(rendered)}"' in page
    assert "<script>alert" not in page


def test_it_keeps_the_previewed_subject_on_one_line(client, marketer):
    lead = LeadFactory(first_name="Eve\r\nBcc: x@evil.test")
    template = EmailTemplateFactory(subject="Hi {Person.firstName}")
    url = reverse("admin:crm_emailtemplate_preview", args=[template.pk])

    response = client.get(url, {"type": "lead", "id": lead.pk})

    subject = response.context["rendered"]["subject"]
    assert "\r" not in subject and "\n" not in subject
    assert subject.startswith("Hi Eve")


def test_it_lists_people_matching_a_search(client, marketer):
    contact = ContactFactory(first_name="Zelda", last_name="Quinn")
    user = UserFactory(username="zelda.q")
    ContactFactory(first_name="Other")
    template = EmailTemplateFactory()
    url = reverse("admin:crm_emailtemplate_preview", args=[template.pk])

    response = client.get(url, {"q": "zelda"})

    found = [(match["kind"], match["person"]) for match in response.context["matches"]]
    assert found == [("contact", contact), ("user", user)]
    assert f"?type=contact&amp;id={contact.pk}" in response.content.decode()


def test_it_answers_404_for_an_unknown_person(client, marketer):
    template = EmailTemplateFactory()
    url = reverse("admin:crm_emailtemplate_preview", args=[template.pk])

    assert client.get(url, {"type": "contact", "id": 999999}).status_code == 404
    assert client.get(url, {"type": "planet", "id": 1}).status_code == 404


def test_it_shows_a_stored_template_error_instead_of_crashing(client, marketer):
    template = EmailTemplateFactory()
    EmailTemplate.objects.filter(pk=template.pk).update(body_html="{Person.nope}")

    response = client.get(reverse("admin:crm_emailtemplate_preview", args=[template.pk]))

    assert response.status_code == 200
    assert "Unknown placeholder {Person.nope}." in response.content.decode()


def test_it_refuses_the_preview_to_staff_without_template_permission(client):
    client.force_login(UserFactory(is_staff=True))
    template = EmailTemplateFactory()

    response = client.get(reverse("admin:crm_emailtemplate_preview", args=[template.pk]))

    assert response.status_code == 403


@pytest.mark.parametrize("url_name", ["changelist", "add"])
def test_it_loads_template_pages_for_a_superuser(admin_client, url_name):
    EmailTemplateFactory()
    assert admin_client.get(reverse(f"admin:crm_emailtemplate_{url_name}")).status_code == 200


def test_it_lists_attachments_in_the_preview(client, marketer):
    template = EmailTemplateFactory()
    EmailTemplateAttachment.objects.create(
        template=template, file=SimpleUploadedFile("price-list.pdf", b"%PDF-1.4"), name="Prices"
    )

    response = client.get(reverse("admin:crm_emailtemplate_preview", args=[template.pk]))

    assert ">Prices</a>" in response.content.decode()


def test_it_saves_an_attachment_with_the_template(client, marketer):
    response = post_template(
        client,
        **{
            "attachments-TOTAL_FORMS": "1",
            "attachments-0-file": SimpleUploadedFile("terms.txt", b"Terms"),
            "attachments-0-name": "Terms",
        },
    )

    assert response.status_code == 302
    assert EmailTemplate.objects.get().attachments.get().name == "Terms"
