"""Visual templates: MJML compiled on the server when saved and once per mass email sent."""

import email
import re
from email import policy

import pytest
from django.urls import reverse

from campaigns.authoring import starters, visual
from campaigns.authoring.rendering import CompiledMassEmail, RenderError
from campaigns.models import CampaignType, EmailQueueItem, MassEmailSettings
from crm.models import EmailTemplate
from crm.models.templates import TemplateEditor
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    EmailTemplateFactory,
    MarketerFactory,
    MassEmailFactory,
    TrackingUrlFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mass_settings")]
SITE = "https://mail.example.com"
DESIGN = {"pages": [{"frames": [{"component": {"type": "wrapper", "components": []}}]}]}


def design_mjml(extra: str = "") -> str:
    return (
        '<mjml lang="en"><mj-body><mj-section><mj-column>'
        "<mj-text>Hi {Person.firstName|there}</mj-text>"
        '<mj-button href="https://shop.example/sale">Sale</mj-button>'
        f"{extra}"
        '<mj-social><mj-social-element name="facebook-noshare" href="https://fb.example/acme">'
        "Facebook</mj-social-element></mj-social>"
        '<mj-text><a href="{optOutUrl}">Unsubscribe</a></mj-text>'
        "</mj-column><mj-column><mj-text>Right</mj-text></mj-column></mj-section>"
        "</mj-body></mjml>"
    )


def test_it_compiles_mjml_to_tables_with_outlook_conditionals_and_no_web_fonts():
    html = visual.compile_mjml(design_mjml(), SITE)
    assert "<table" in html and "<!--[if mso | IE]>" in html
    assert "mj-column-per-50" in html  # two columns, side by side from 480 px
    assert "{Person.firstName|there}" in html and 'href="{optOutUrl}"' in html
    assert "fonts.googleapis" not in html and "@import" not in html
    assert f'src="{SITE}/static/campaigns/builder/social/facebook.png"' in html
    assert "mailjet" not in html


def test_it_names_the_field_of_a_design_it_refuses():
    with pytest.raises(visual.ValidationError) as caught:
        visual.compile_design(DESIGN, design_mjml('<mj-text onclick="x()">a</mj-text>'), SITE)
    assert set(caught.value.message_dict) == {"body_mjml"}
    with pytest.raises(visual.ValidationError) as caught:
        visual.compile_design({"pages": "<script>x</script>"}, design_mjml(), SITE)
    assert set(caught.value.message_dict) == {"design"}
    with pytest.raises(visual.ValidationError) as caught:
        visual.compile_design(DESIGN, "  ", SITE)
    assert "empty" in caught.value.message_dict["body_mjml"][0]
    with pytest.raises(visual.ValidationError) as caught:
        visual.compile_design(DESIGN, "<mjml><mj-body><mj-section>", SITE)
    assert "could not be compiled" in caught.value.message_dict["body_mjml"][0]


@pytest.mark.parametrize("starter", starters.starters(SITE, "es"), ids=lambda s: s.key)
def test_it_compiles_every_starter_design_with_its_images_at_the_site_url(starter):
    html = visual.compile_design(DESIGN, starter.mjml, SITE)
    assert "{optOutUrl}" in html and "{Person.firstName|" in html
    images = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert all(src.startswith(f"{SITE}/static/campaigns/builder/") for src in images)
    assert images or starter.key.startswith("letter")  # the plain letter has no image


def test_it_offers_three_starters_in_each_language_the_users_first():
    keys = [starter.key for starter in starters.starters(SITE, "es")]
    assert len(keys) == 6 and keys[:3] == ["newsletter.es", "announcement.es", "letter.es"]
    assert {key.split(".")[0] for key in keys} == {"newsletter", "announcement", "letter"}


def _sent(template, campaign=None, **mass_fields) -> str:
    mass_email = MassEmailFactory(
        campaign=campaign or CampaignFactory(type=CampaignType.NEWSLETTER),
        email_template=template,
        from_address="news@shop.example",
        **mass_fields,
    )
    contact = ContactFactory(first_name="Ana")
    item = EmailQueueItem.objects.create(
        mass_email=mass_email, contact=contact, email_address=contact.email_address
    )
    item = EmailQueueItem.objects.select_related("contact", "email_address").get(pk=item.pk)
    message = email.message_from_bytes(
        CompiledMassEmail.compile(mass_email).render(item).data, policy=policy.default
    )
    return message.get_body(("html",)).get_content()


def test_it_sends_the_compiled_mjml_with_every_link_tracked_and_placeholders_filled():
    template = EmailTemplateFactory(
        editor=TemplateEditor.VISUAL,
        body_mjml=design_mjml(),
        body_html="<p>stale HTML the design replaced</p>",
        preheader="Spring sale",
    )
    html = _sent(template, track_all_links=True)
    assert "stale HTML" not in html and "<!--[if mso | IE]>" in html and "<table" in html
    body = html.split("<body", 1)[1]
    assert "Hi Ana" in body and not re.search(r"\{[A-Za-z]", body)  # every placeholder filled
    links = re.findall(r'href="([^"]+)"', html)
    assert all("/t/c/" in link or "/t/u/" in link or "/t/v/" in link for link in links), links
    assert "Spring sale</div>" in html  # the preheader, first and hidden


def test_it_stops_a_mass_email_whose_stored_design_is_unsafe():
    bad = design_mjml("<mj-raw><script>alert(1)</script></mj-raw>")
    template = EmailTemplateFactory(editor=TemplateEditor.VISUAL, body_mjml=bad)
    with pytest.raises(RenderError, match="cannot be compiled"):
        _sent(template)


def test_it_saves_a_visual_template_from_the_form_with_its_compiled_html(client):
    client.force_login(MarketerFactory())
    MassEmailSettings.objects.filter(pk=1).update(site_url=SITE)
    link = TrackingUrlFactory(campaign=CampaignFactory())
    source = design_mjml(f'<mj-button href="{link.code}">Tracked</mj-button>')
    response = client.post(
        reverse("admin:crm_emailtemplate_add"),
        {
            "name": "Built",
            "subject": "Hi",
            "editor": "visual",
            "design": '{"pages": [], "assets": []}',
            "body_mjml": source,
            "body_html": "<p>whatever the browser sent</p>",
            "attachments-TOTAL_FORMS": "0",
            "attachments-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    template = EmailTemplate.objects.get(name="Built")
    assert template.is_visual and template.body_mjml == source
    assert template.body_html == visual.compile_mjml(source, SITE)
    assert template.design == {"pages": [], "assets": []}


def _post(client, **fields):
    data = {
        "name": "Built",
        "subject": "Hi",
        "editor": "visual",
        "design": "{}",
        "body_mjml": design_mjml(),
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
        **fields,
    }
    return client.post(reverse("admin:crm_emailtemplate_add"), data)


def test_it_shows_why_a_design_is_refused_and_saves_nothing(client):
    client.force_login(MarketerFactory())
    script_link = design_mjml('<mj-button href="javascript:x()">a</mj-button>')
    response = _post(client, body_mjml=script_link)
    assert response.status_code == 200
    assert "a script address (javascript:)" in response.content.decode()
    response = _post(client, design='{"pages": [{"frames": [{"component": {"type": "script"}}]}]}')
    assert "unknown kind" in response.content.decode()
    response = _post(client, body_mjml=design_mjml("<mj-text>{Person.shoeSize}</mj-text>"))
    assert "shoeSize" in response.content.decode()
    unknown_code = design_mjml('<mj-button href="{trackingUrl:999}">x</mj-button>')
    response = _post(client, body_mjml=unknown_code)
    assert "{trackingUrl:999}" in response.content.decode()
    assert not EmailTemplate.objects.exists()


def test_it_keeps_a_source_template_as_it_is_and_drops_a_design_switched_away(client):
    client.force_login(MarketerFactory())
    response = _post(client, editor="source", body_html="<p>Hand written {Person.name}</p>")
    assert response.status_code == 302
    template = EmailTemplate.objects.get()
    assert template.body_html == "<p>Hand written {Person.name}</p>"
    assert template.design == {} and template.body_mjml == "" and not template.is_visual
