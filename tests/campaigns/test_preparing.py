"""A template prepared once per mass email: CSS inlined, preheader, "View in browser" line."""

import email
import re
from email import policy

import pytest

from campaigns.authoring import tokens
from campaigns.authoring.preparing import inline_css
from campaigns.authoring.rendering import CompiledMassEmail, RenderError
from campaigns.models import CampaignType, EmailQueueItem
from tests.factories import CampaignFactory, ContactFactory, EmailTemplateFactory, MassEmailFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mass_settings")]

STYLED = """<html><head><style>
p { color: #333333; font-family: Georgia, serif }
a.button { background: #0a7d3b; color: #ffffff }
@media (max-width: 600px) { p { font-size: 18px } }
</style></head>
<body><p>Hi {Person.firstName|there}, <a class="button" href="{optOutUrl}">go</a></p>
</body></html>"""


def _bodies(campaign_type=CampaignType.NEWSLETTER, mass_fields=None, **template_fields):
    template = EmailTemplateFactory(**template_fields)
    mass_email = MassEmailFactory(
        campaign=CampaignFactory(type=campaign_type),
        email_template=template,
        from_address="news@shop.example",
        **(mass_fields or {}),
    )
    contact = ContactFactory(first_name="")
    item = EmailQueueItem.objects.create(
        mass_email=mass_email, contact=contact, email_address=contact.email_address
    )
    item = EmailQueueItem.objects.select_related("contact", "email_address").get(pk=item.pk)
    message = email.message_from_bytes(
        CompiledMassEmail.compile(mass_email).render(item).data, policy=policy.default
    )
    parts = {subtype: (message.get_body((subtype,)) or None) for subtype in ("html", "plain")}
    return item, {k: v.get_content() for k, v in parts.items() if v is not None}


def test_it_inlines_style_blocks_and_keeps_media_queries_in_the_head():
    _item, bodies = _bodies(body_html=STYLED)
    html = bodies["html"]
    assert re.search(r'<p style="color: #333333;\s*font-family: Georgia, serif;?">Hi there', html)
    assert re.search(r'<a class="button" href="[^"]+/t/u/[^"]+" style="background: #0a7d3b', html)
    head = html.split("<body", 1)[0]
    assert "@media (max-width: 600px)" in head and "color: #333333" not in head


def test_it_leaves_html_without_a_style_block_exactly_as_written():
    source = "<p>Hi   <b>there</b></p>"
    assert inline_css(source) is source


def test_it_puts_the_preheader_first_and_hidden_and_keeps_it_out_of_the_text():
    _item, bodies = _bodies(
        body_html="<html><body><h1>Autumn</h1><p>News.</p></body></html>",
        preheader="Up to 30% off for {Person.firstName|you} & friends",
    )
    html = bodies["html"]
    body = html.split("<body>", 1)[1]
    assert body.startswith('<div style="display:none;')
    assert "Up to 30% off for you &amp; friends</div><h1>Autumn</h1>" in body
    assert "30% off" not in bodies["plain"] and bodies["plain"].startswith("Autumn")


def test_it_adds_a_view_in_browser_line_with_the_recipients_own_link():
    item, bodies = _bodies(
        body_html="<p>News.</p>", body_text="News.", mass_fields={"web_view_link": True}
    )
    token = tokens.make(tokens.WEB_VIEW, item.pk)
    assert bodies["html"].index(f"/t/v/{token}/") < bodies["html"].index("News.")
    assert "View this email in your browser</a></p><p>News.</p>" in bodies["html"]
    assert bodies["plain"].startswith(
        f"View this email in your browser: https://news.example.org/t/v/{token}/"
    )


def test_it_gives_informational_emails_a_web_view_too():
    item, bodies = _bodies(
        CampaignType.INFORMATIONAL, body_html='<p><a href="{webViewUrl}">Online</a></p>'
    )
    assert f"/t/v/{tokens.make(tokens.WEB_VIEW, item.pk)}/" in bodies["html"]


def test_it_reports_css_that_cannot_be_inlined():
    with pytest.raises(RenderError, match="cannot be inlined"):
        _bodies(body_html="<style>p { color: red }</style><p style='{{'>x</p>")
