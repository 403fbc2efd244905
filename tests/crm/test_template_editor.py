"""The template form's live preview endpoints: rendering as you type, errors, insert lists."""

import json

import pytest
from django.urls import reverse

from tests.factories import (
    CampaignFactory,
    ContactFactory,
    MarketerFactory,
    TrackingUrlFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
LIVE = "admin:crm_emailtemplate_live_preview"


@pytest.fixture
def marketer(client):
    user = MarketerFactory(first_name="Mia", last_name="Marketer")
    client.force_login(user)
    return user


def _preview(client, person="", **fields):
    data = {"subject": "", "preheader": "", "body_html": "", "body_text": "", "person": person}
    response = client.post(reverse(LIVE), {**data, **fields})
    return response.status_code, response.json()


def test_it_renders_for_the_sample_person_with_every_field_filled(client, marketer):
    status, data = _preview(
        client,
        subject="Hi {Person.firstName|there}",
        preheader="For {Contact.account.name}",
        body_html="<p>{Lead.status} {Lead.source} {Account.industry} {User.userName}</p>",
    )
    assert status == 200 and data["errors"] == {}
    assert data["rendered"]["subject"] == "Hi Alex"
    assert data["rendered"]["preheader"] == "For Northwind Traders"
    # As sent: the preheader first, hidden, then the body.
    hidden, body = data["rendered"]["html"].split("</div>")
    assert hidden.startswith('<div style="display:none;') and hidden.endswith("Northwind Traders")
    assert body == "<p>New Web site Retail amorgan</p>"
    assert data["rendered"]["text"] == "New Web site Retail amorgan"  # derived, as when sending


def test_it_renders_for_a_chosen_contact_escaped_with_fallbacks(client, marketer):
    contact = ContactFactory(first_name="", last_name="<Lee>")
    _status, data = _preview(
        client,
        person=f"contact:{contact.pk}",
        subject="Hi {Person.firstName|there}",
        body_html="<p>{Person.lastName}</p>",
        body_text="Dear {Person.lastName}",
    )
    assert data["rendered"]["subject"] == "Hi there"
    assert data["rendered"]["html"] == "<p>&lt;Lee&gt;</p>"
    assert data["rendered"]["text"] == "Dear <Lee>"
    assert _preview(client, person="me", subject="{Person.name}")[1]["rendered"]["subject"] == (
        "Mia Marketer"
    )


def test_it_fills_tracking_codes_with_their_addresses_and_names_unknown_ones(client, marketer):
    link = TrackingUrlFactory(url="https://shop.example/sale")
    _status, data = _preview(client, body_html=f'<a href="{link.code}">Sale</a>')
    assert data["rendered"]["html"] == '<a href="https://shop.example/sale">Sale</a>'
    _status, data = _preview(client, body_html="<a href='{trackingUrl:99999}'>x</a>")
    assert "{trackingUrl:99999} matches no tracking URL" in data["errors"]["body_html"]


def test_it_names_placeholder_errors_by_field_and_renders_the_others(client, marketer):
    _status, data = _preview(client, subject="Hi {Person.shoeSize}", body_html="<p>ok</p>")
    assert data["errors"] == {"subject": "Unknown placeholder {Person.shoeSize}."}
    assert data["rendered"]["html"] == "<p>ok</p>"


def test_it_answers_404_for_a_person_who_is_gone_and_403_for_a_kind_not_allowed(client, marketer):
    status, data = _preview(client, person="contact:999999")
    assert status == 404 and data["error"]
    assert client.post(reverse(LIVE), {"person": "planet:1"}).status_code == 403


def test_it_refuses_users_who_may_not_edit_templates(client):
    client.force_login(UserFactory(is_staff=True))
    assert client.post(reverse(LIVE), {"subject": "x"}).status_code == 403
    assert client.get(reverse("admin:crm_emailtemplate_tracking_codes")).status_code == 403


def test_it_refuses_a_get_and_a_post_without_csrf(marketer):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(marketer)
    assert strict.post(reverse(LIVE), {"subject": "x"}).status_code == 403
    assert strict.get(reverse(LIVE)).status_code == 405


def test_it_finds_people_to_preview_for(client, marketer):
    contact = ContactFactory(first_name="Zelda", last_name="Quinn")
    response = client.get(reverse("admin:crm_emailtemplate_preview_people"), {"q": "zelda"})
    assert response.json()["people"] == [
        {"value": f"contact:{contact.pk}", "label": "Zelda Quinn (contact)"}
    ]


def test_it_lists_a_campaigns_tracking_codes(client, marketer):
    campaign = CampaignFactory()
    link = TrackingUrlFactory(campaign=campaign, name="Sale", url="https://shop.example/sale")
    TrackingUrlFactory()  # another campaign's
    url = reverse("admin:crm_emailtemplate_tracking_codes")
    codes = client.get(url, {"campaign": campaign.pk}).json()["codes"]
    assert codes == [{"code": link.code, "name": "Sale", "url": "https://shop.example/sale"}]
    assert client.get(url, {"campaign": "x"}).json()["codes"] == []


def test_it_gives_the_form_its_editor_configuration(client, marketer):
    campaign = CampaignFactory(name="Autumn")
    response = client.get(reverse("admin:crm_emailtemplate_add"))
    page = response.content.decode()
    assert "crm/editor/codemirror.js" in page and "crm/editor/template_editor.js" in page
    config = json.loads(
        page.split('id="template-editor-config" type="application/json">')[1].split("</script>")[0]
    )
    assert (
        "{Person.firstName}" in config["placeholders"] and "{webViewUrl}" in config["placeholders"]
    )
    assert [campaign.pk, "Autumn"] in config["campaigns"]
    assert config["urls"]["live"] == reverse(LIVE)
