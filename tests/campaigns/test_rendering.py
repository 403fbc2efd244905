import email
import json
import re
from email import policy
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile

from campaigns.authoring import tokens
from campaigns.authoring.rendering import CompiledMassEmail, RenderError, TrackingUrlError
from campaigns.models import CampaignType, EmailQueueItem
from crm.models import EmailAccount, EmailTemplate, EmailTemplateAttachment, OutboundEmailSettings
from tests.factories import SITE_URL as SITE
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    EmailAddressFactory,
    EmailTemplateFactory,
    MassEmailFactory,
    TrackingUrlFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mass_settings")]


def _mass_email(campaign_type=CampaignType.EMAIL, **template_fields):
    campaign = CampaignFactory(type=campaign_type)
    template = EmailTemplateFactory(**template_fields)
    return MassEmailFactory(
        campaign=campaign, email_template=template, from_address="news@shop.example"
    )


def _item(mass_email, target=None, address=None, is_test=False):
    address = address or target.email_address
    item = EmailQueueItem(
        mass_email=mass_email, email_address=address, email=address.address, is_test=is_test
    )
    if target is not None:
        item.set_target(target)
    item.save()
    related = ("email_address", "contact", "lead", "account", "user")
    return EmailQueueItem.objects.select_related(*related).get(pk=item.pk)


def _render(mass_email, target=None, **item_fields):
    item = _item(mass_email, target or ContactFactory(), **item_fields)
    return item, CompiledMassEmail.compile(mass_email).render(item)


def _parse(rendered):
    return email.message_from_bytes(rendered.data, policy=policy.default)


def _body(message, subtype):
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    return part.get_content().replace("\r\n", "\n")


def _token(url, kind):
    """The token in a tracking URL under SITE, after checking the URL's shape."""
    path = urlsplit(url).path
    prefix = {tokens.CLICK: "/t/c/", tokens.OPT_OUT: "/t/u/", tokens.OPEN: "/t/o/"}[kind]
    assert url.startswith(SITE) and path.startswith(prefix), url
    return path.removeprefix(prefix).split("/")[0]


def test_it_renders_a_complete_multipart_message():
    mass_email = _mass_email(subject="News for {Person.firstName}: 100% new")
    contact = ContactFactory(first_name="Ann", last_name="Lee")
    item, rendered = _render(mass_email, contact)
    message = _parse(rendered)
    assert message["From"] == "news@shop.example"
    assert message["To"].addresses[0].display_name == "Ann Lee"
    assert message["To"].addresses[0].addr_spec == contact.email_address.address
    assert message["Subject"] == "News for Ann: 100% new"
    assert message["Date"].datetime is not None
    assert message["MIME-Version"] == "1.0"
    assert message.get_content_type() == "multipart/alternative"
    assert "Dear Ann Lee," in _body(message, "html")
    assert "Dear Ann Lee," in _body(message, "plain")
    assert tokens.read(tokens.HEADER, message["X-Queue-Item-Id"]) == (item.pk,)
    assert message["Message-ID"] == rendered.message_id
    assert rendered.recipient == contact.email_address.address
    assert rendered.envelope_from == "news@shop.example"
    assert b"\r\n" in rendered.data and b"\n" not in rendered.data.replace(b"\r\n", b"")
    assert message.defects == [] and all(not part.defects for part in message.walk())


def test_it_adds_bulk_and_one_click_unsubscribe_headers_to_an_email_campaign():
    item, rendered = _render(_mass_email())
    message = _parse(rendered)
    assert message["Precedence"] == "bulk"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip("<>")
    assert url.endswith("/one-click/")
    assert tokens.read(tokens.OPT_OUT, _token(url, tokens.OPT_OUT)) == (item.pk,)
    assert message["Auto-Submitted"] is None


def test_it_marks_a_newsletter_auto_submitted():
    _item, rendered = _render(_mass_email(CampaignType.NEWSLETTER))
    message = _parse(rendered)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"] is not None


def test_it_leaves_opt_out_and_tracking_out_of_an_informational_email(mass_settings):
    mass_settings.open_tracking = True
    mass_settings.save()
    mass_email = _mass_email(
        CampaignType.INFORMATIONAL,
        body_html='<p>See <a href="{trackingUrl:0}">Status</a> [{optOutUrl}] [{optOutLink}]</p>',
    )
    link = TrackingUrlFactory(campaign=mass_email.campaign, url="https://status.example/now")
    EmailTemplate.objects.filter(pk=mass_email.email_template_id).update(
        body_html=mass_email.email_template.body_html.replace(":0}", f":{link.pk}}}")
    )
    mass_email.email_template.refresh_from_db()
    _item, rendered = _render(mass_email)
    message = _parse(rendered)
    html = _body(message, "html")
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Precedence"] == "bulk"
    assert '<a href="https://status.example/now">Status</a> [] []' in html
    assert "/t/" not in html and "/t/" not in _body(message, "plain")
    assert "<img" not in html


def test_it_keeps_list_unsubscribe_and_the_template_link_when_the_mandatory_link_is_disabled(
    mass_settings,
):
    mass_settings.disable_opt_out_link = True
    mass_settings.save()
    plain = _parse(_render(_mass_email())[1])
    assert "/t/u/" not in _body(plain, "html") and "/t/u/" not in _body(plain, "plain")
    assert plain["List-Unsubscribe"] is not None
    own = _mass_email(body_html='<p>Hi</p><a href="{optOutUrl}">Leave</a>')
    item, rendered = _render(own)
    links = re.findall(r'href="([^"]+)"', _body(_parse(rendered), "html"))
    assert tokens.read(tokens.OPT_OUT, _token(links[0], tokens.OPT_OUT)) == (item.pk,)


def test_it_cannot_be_made_to_add_a_header_through_a_first_name():
    mass_email = _mass_email(subject="Hi {Person.firstName}!")
    contact = ContactFactory(first_name="Ann\r\nBcc: victim@example.net\nX-Evil: 1", last_name="X")
    _item, rendered = _render(mass_email, contact)
    message = _parse(rendered)
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert message["Subject"] == "Hi Ann Bcc: victim@example.net X-Evil: 1!"
    assert message["To"].addresses[0].addr_spec == contact.email_address.address
    assert not re.search(rb"\r\n(Bcc|X-Evil):", rendered.data)


def test_it_escapes_values_in_html_but_not_in_plain_text():
    mass_email = _mass_email(body_html="<p>{Person.lastName}</p>", body_text="{Person.lastName}")
    contact = ContactFactory(last_name='<script>alert("x")</script>')
    message = _parse(_render(mass_email, contact)[1])
    html = _body(message, "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert '<script>alert("x")</script>' in _body(message, "plain")


def _tracked_mass_email(**template_fields):
    mass_email = _mass_email(**template_fields)
    link = TrackingUrlFactory(campaign=mass_email.campaign)
    template = mass_email.email_template
    template.body_html = f'<p>Hi</p><a href="{{trackingUrl:{link.pk}}}">Try our demo</a>'
    template.save()
    return mass_email, link


def test_it_gives_each_recipient_its_own_signed_links():
    mass_email, link = _tracked_mass_email()
    compiled = CompiledMassEmail.compile(mass_email)
    seen = set()
    for _ in range(2):
        item = _item(mass_email, ContactFactory())
        html = _body(_parse(compiled.render(item)), "html")
        _hidden_link, click, opt_out = re.findall(r'href="([^"]+)"', html)
        click_token = _token(click, tokens.CLICK)
        assert tokens.read(tokens.CLICK, click_token, count=2) == (item.pk, link.pk)
        assert tokens.read(tokens.OPT_OUT, _token(opt_out, tokens.OPT_OUT)) == (item.pk,)
        seen.add(click_token)
    assert len(seen) == 2


def test_it_refuses_a_tracking_url_of_another_campaign():
    mass_email = _mass_email()
    foreign = TrackingUrlFactory(name="Elsewhere")
    template = mass_email.email_template
    template.body_html = f'<a href="{{trackingUrl:{foreign.pk}}}">Go</a>'
    template.save()
    with pytest.raises(TrackingUrlError, match="Elsewhere"):
        CompiledMassEmail.compile(mass_email)


def test_it_refuses_a_tracking_url_that_does_not_exist():
    mass_email = _mass_email(body_html='<a href="{trackingUrl:987654}">Go</a>')
    with pytest.raises(TrackingUrlError, match="987654"):
        CompiledMassEmail.compile(mass_email)


@pytest.mark.parametrize(
    ("body_html", "error"),
    [
        ("<p>{Person.shoeSize}</p>", "shoeSize"),
        ("<p>{Person.firstName</p>", "not closed"),
        ("", ""),
    ],
)
def test_it_raises_a_render_error_for_a_template_that_became_invalid(body_html, error):
    mass_email = _mass_email()
    EmailTemplate.objects.filter(pk=mass_email.email_template_id).update(body_html=body_html)
    mass_email.email_template.refresh_from_db()
    with pytest.raises(RenderError, match=error or "neither an HTML nor a text body"):
        CompiledMassEmail.compile(mass_email)


@pytest.mark.parametrize(
    ("open_tracking", "body_html", "pixels"),
    [(True, "<html><body><p>Hi</p></body></html>", 1), (False, "<p>Hi</p>", 0), (True, "", 0)],
)
def test_it_adds_the_open_pixel_only_with_open_tracking_and_an_html_body(
    mass_settings, open_tracking, body_html, pixels
):
    mass_settings.open_tracking = open_tracking
    mass_settings.save()
    mass_email = _mass_email(body_html=body_html, body_text="Hi {Person.firstName}")
    item, rendered = _render(mass_email)
    message = _parse(rendered)
    sources = re.findall(r'<img src="([^"]+)"', _body(message, "html") or "")
    assert len(sources) == pixels
    if pixels:
        assert tokens.read(tokens.OPEN, _token(sources[0], tokens.OPEN)) == (item.pk,)
        assert _body(message, "html").index("<img") < _body(message, "html").index("</body>")


def test_it_appends_the_opt_out_link_only_when_the_body_has_none():
    appended = _parse(_render(_mass_email(body_html="<p>Hi</p>"))[1])
    assert re.search(r'<a href="[^"]+/t/u/[^"]+/">Unsubscribe</a>', _body(appended, "html"))
    assert re.search(r"Unsubscribe: \S+/t/u/\S+/", _body(appended, "plain"))
    own_html = '<p>Hi</p><p><a href="{optOutUrl}">Cancelar la suscripción</a></p>'
    own = _parse(_render(_mass_email(body_html=own_html))[1])
    html = _body(own, "html")
    assert html.count("/t/u/") == 1 and "Cancelar la suscripción</a>" in html
    assert _body(own, "plain").count("/t/u/") == 1
    assert "Cancelar la suscripción (https://" in _body(own, "plain")


def test_it_does_not_count_an_opt_out_placeholder_hidden_in_a_comment():
    message = _parse(_render(_mass_email(body_html="<p>Hi</p><!-- {optOutUrl} -->"))[1])
    assert ">Unsubscribe</a>" in _body(message, "html")


def test_it_derives_the_plain_text_from_the_html():
    mass_email, link = _tracked_mass_email()
    template = mass_email.email_template
    template.body_html = (
        "<!DOCTYPE html><html><head><style>p {color: red}</style></head><body>"
        "<!--[if mso]><table><tr><td><![endif]--><h1>Big   news</h1>"
        f'<p>Dear {{Person.firstName}},<br>see <a href="{{trackingUrl:{link.pk}}}">our demo</a>'
        "</p><ul><li>One</li><li>Two</li></ul></body></html>"
    )
    template.save()
    item, rendered = _render(mass_email, ContactFactory(first_name="Eva"))
    text = _body(_parse(rendered), "plain")
    assert text.startswith("Big news\n\nDear Eva,\nsee our demo (https://news.example.org/t/c/")
    assert "- One\n- Two" in text and "<" not in text and "color" not in text
    click = re.search(r"our demo \((\S+)\)", text).group(1)
    assert tokens.read(tokens.CLICK, _token(click, tokens.CLICK), count=2) == (item.pk, link.pk)


def test_it_sends_a_text_only_template_as_a_single_part():
    message = _parse(_render(_mass_email(body_html="", body_text="Hello {Person.firstName}"))[1])
    assert message.get_content_type() == "text/plain"
    assert message.get_content().startswith("Hello Ann")


def test_it_attaches_the_template_attachments_encoded_once():
    mass_email = _mass_email()
    pdf = bytes(range(256)) * 40 + b"%PDF %s %(x)s"
    EmailTemplateAttachment.objects.create(
        template=mass_email.email_template, name="Año 2026.pdf", file=ContentFile(pdf, "a.pdf")
    )
    EmailTemplateAttachment.objects.create(
        template=mass_email.email_template, file=ContentFile(b"a;b\r\n1;2\r\n", "list.csv")
    )
    message = _parse(_render(mass_email)[1])
    assert message.get_content_type() == "multipart/mixed"
    attachments = {part.get_filename(): part for part in message.iter_attachments()}
    assert attachments["Año 2026.pdf"].get_content() == pdf
    assert attachments["Año 2026.pdf"].get_content_type() == "application/pdf"
    assert any(name.startswith("list") and name.endswith(".csv") for name in attachments)
    assert "Dear" in _body(message, "html") and "Dear" in _body(message, "plain")


def test_it_round_trips_spanish_text():
    mass_email = _mass_email(
        subject="¡Hola {Person.firstName}! Ofertas de otoño para usted y su familia, señor",
        body_html="<p>Estimado {Person.name}: años de ñandúes</p>",
    )
    contact = ContactFactory(first_name="Señor", last_name="Muñoz")
    _item, rendered = _render(mass_email, contact)
    message = _parse(rendered)
    assert message["Subject"] == ("¡Hola Señor! Ofertas de otoño para usted y su familia, señor")
    assert message["To"].addresses[0].display_name == "Señor Muñoz"
    assert "Estimado Señor Muñoz: años de ñandúes" in _body(message, "html")
    assert "Estimado Señor Muñoz: años de ñandúes" in _body(message, "plain")
    assert rendered.data.isascii()
    lines = rendered.data.split(b"\r\n")
    assert max(len(line) for line in lines if not line.startswith(b"List-Unsubscribe:")) <= 78


def test_it_folds_a_long_ascii_subject_without_changing_it():
    subject = " ".join(["Autumn offers for {Person.lastName}"] + ["word"] * 40)
    mass_email = _mass_email(subject=subject)
    message = _parse(_render(mass_email, ContactFactory(last_name="Lee"))[1])
    assert message["Subject"] == subject.replace("{Person.lastName}", "Lee")


def test_it_gives_a_retried_item_the_same_message_id():
    mass_email = _mass_email()
    item = _item(mass_email, ContactFactory())
    first = CompiledMassEmail.compile(mass_email).render(item)
    again = CompiledMassEmail.compile(mass_email).render(item)
    other = CompiledMassEmail.compile(mass_email).render(_item(mass_email, ContactFactory()))
    assert first.message_id == again.message_id != other.message_id
    assert re.fullmatch(r"<massmail\.[\w.-]+@shop\.example>", first.message_id)


def test_it_uses_a_verp_envelope_sender_when_verp_is_on(mass_settings):
    mass_settings.verp = True
    mass_settings.verp_domain = "bounces.shop.example"
    mass_settings.save()
    item, rendered = _render(_mass_email())
    local, domain = rendered.envelope_from.split("@")
    assert domain == "bounces.shop.example"
    assert tokens.read_verp(local.removeprefix("bounce+")) == item.pk
    assert tokens.read_verp(local.removeprefix("bounce+").upper()) == item.pk
    assert _parse(rendered)["From"] == "news@shop.example"


def test_it_renders_person_fields_empty_for_a_test_item_without_a_target():
    mass_email = _mass_email(subject="Hi {Person.firstName}.")
    item = _item(mass_email, address=EmailAddressFactory(address="me@example.com"), is_test=True)
    rendered = CompiledMassEmail.compile(mass_email, is_test=True).render(item)
    message = _parse(rendered)
    assert message["Subject"] == "Hi ." and message["To"] == "me@example.com"
    assert "Dear ," in _body(message, "html")
    assert "/t/u/" in _body(message, "html")


def test_it_takes_from_and_reply_to_from_the_mass_email():
    mass_email = _mass_email()
    mass_email.from_name = 'Shop "Best" Ñ'
    mass_email.reply_to_address = "help@shop.example"
    mass_email.reply_to_name = "Help, desk"
    mass_email.save()
    message = _parse(_render(mass_email)[1])
    assert message["From"].addresses[0].display_name == 'Shop "Best" Ñ'
    assert message["Reply-To"].addresses[0].display_name == "Help, desk"
    assert message["Reply-To"].addresses[0].addr_spec == "help@shop.example"


def test_it_falls_back_to_the_outbound_settings_or_the_smtp_account():
    outbound = OutboundEmailSettings.load()
    outbound.from_address, outbound.from_name = "system@corp.example", "Corp"
    outbound.save()
    mass_email = _mass_email()
    mass_email.from_address = ""
    mass_email.save()
    message = _parse(_render(mass_email)[1])
    assert str(message["From"]) == "Corp <system@corp.example>"
    assert message["Message-ID"].endswith("@corp.example>")
    mass_email.smtp_account = EmailAccount.objects.create(
        name="Sales", email_address="sales@corp.example", from_name="Sales team", use_smtp=True
    )
    mass_email.save()
    assert str(_parse(_render(mass_email)[1])["From"]) == "Sales team <sales@corp.example>"


def test_it_keeps_lines_within_the_limits_whatever_the_values(mass_settings):
    mass_settings.site_url = "https://" + "long-" * 20 + "site.example.org/mail"
    mass_settings.save()
    mass_email = _mass_email(
        subject="{Person.lastName}",
        body_html="<p>" + "Línea muy larga = con signos. " * 12 + "{Person.lastName}</p>",
    )
    last_name = ".Muñoz = " * 10 + "  "  # 92 characters: more than one encoded line
    contact = ContactFactory(first_name="Ann\t ", last_name=last_name)
    _item, rendered = _render(mass_email, contact)
    message = _parse(rendered)
    lines = rendered.data.split(b"\r\n")
    assert max(map(len, lines)) <= 998
    body_start = lines.index(b"Content-Transfer-Encoding: quoted-printable")
    assert max(map(len, lines[body_start:])) <= 76
    assert message["Subject"] == last_name
    html = _body(message, "html")
    assert "Línea muy larga = con signos. " * 12 + last_name in html
    assert f"{mass_settings.site_url}/t/u/" in html
    assert message.defects == [] and all(not part.defects for part in message.walk())


@pytest.mark.parametrize(
    ("esp", "header", "metadata"),
    [
        ("sendgrid", "X-SMTPAPI", lambda value: json.loads(value)["unique_args"]),
        ("mailgun", "X-Mailgun-Variables", json.loads),
        ("postmark", "X-PM-Metadata-massmail_item", lambda value: {"massmail_item": value}),
        ("amazon_ses", "X-Metadata", json.loads),
    ],
)
def test_it_puts_the_signed_item_id_in_the_chosen_providers_metadata(
    mass_settings, esp, header, metadata
):
    mass_settings.esp = esp
    mass_settings.save()

    item, rendered = _render(_mass_email())

    token = metadata(_parse(rendered)[header])["massmail_item"]
    assert tokens.read(tokens.HEADER, token) == (item.pk,)


def test_it_adds_no_provider_header_without_a_provider():
    _item, rendered = _render(_mass_email())

    headers = _parse(rendered).keys()
    provider_headers = {"X-SMTPAPI", "X-Mailgun-Variables", "X-PM-Metadata-massmail_item"}
    assert not (provider_headers | {"X-Metadata"}) & set(headers)


def test_it_fills_a_fallback_for_an_empty_value_in_subject_html_and_text():
    mass_email = _mass_email(
        subject="Hi {Person.firstName|there}, {Person.lastName|friend} 100%",
        body_html="<p>Dear {Person.firstName|<b>reader</b>} {Person.firstName}.</p>",
        body_text="Dear {Person.firstName|reader} ({Contact.title|no title})",
    )
    _item, rendered = _render(mass_email, ContactFactory(first_name="", last_name="Lee"))
    message = _parse(rendered)
    assert message["Subject"] == "Hi there, Lee 100%"
    assert "<p>Dear <b>reader</b> .</p>" in _body(message, "html")
    assert "Dear reader (no title)" in _body(message, "plain")
    _item, rendered = _render(mass_email, ContactFactory(first_name="Ann <3", last_name="Lee"))
    message = _parse(rendered)
    assert message["Subject"] == "Hi Ann <3, Lee 100%"
    assert "<p>Dear Ann &lt;3 Ann &lt;3.</p>" in _body(message, "html")


def test_it_names_the_list_and_the_feedback_loop_ids():
    mass_email = _mass_email(CampaignType.NEWSLETTER)
    campaign = mass_email.campaign
    campaign.name = 'Otoño "2026"'
    campaign.save()
    _item, rendered = _render(mass_email)
    message = _parse(rendered)
    # RFC 2919: a phrase (here RFC 2047 encoded) and <list-label.namespace>
    assert str(message["List-Id"]) == f'Otoño "2026" <campaign-{campaign.pk}.shop.example>'
    assert rendered.data.count(b"List-Id: =?utf-8?b?") == 1
    assert message["Feedback-ID"] == f"m{mass_email.pk}:c{campaign.pk}:newsletter:shop.example"
    assert message["Precedence"] == "bulk" and message["List-Unsubscribe"]
