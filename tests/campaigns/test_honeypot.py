"""The hidden link (honeypot) the renderer adds so tracking can tell scanners' clicks apart."""

import email
import re
from email import policy

import pytest

from campaigns.authoring import tokens
from campaigns.authoring.rendering import CompiledMassEmail
from campaigns.models import CampaignType, EmailQueueItem, MassEmailSettings
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    EmailTemplateFactory,
    MassEmailFactory,
    TrackingUrlFactory,
)

pytestmark = pytest.mark.django_db
SITE = "https://news.example.org"
HIDDEN = re.compile(
    r'<a href="https://news\.example\.org/t/c/([^"/]+)/" style="display:none" '
    r'aria-hidden="true" tabindex="-1"></a>'
)


@pytest.fixture(autouse=True)
def mass_settings(settings):
    settings.SITE_URL = SITE
    row = MassEmailSettings.load()
    row.site_url = SITE
    row.open_tracking = True
    row.save()
    return row


def _mass_email(campaign_type=CampaignType.EMAIL, body_html="", body_text="", links=1):
    """A mass email whose template body has `{link0}`, `{link1}`… filled with tracked links."""
    campaign = CampaignFactory(type=campaign_type)
    ids = [TrackingUrlFactory(campaign=campaign).pk for _ in range(links)]
    names = {f"link{n}": f"{{trackingUrl:{pk}}}" for n, pk in enumerate(ids)}
    template = EmailTemplateFactory(
        body_html=body_html.format(**names), body_text=body_text.format(**names)
    )
    return MassEmailFactory(
        campaign=campaign, email_template=template, from_address="news@shop.example"
    )


def _item(mass_email):
    contact = ContactFactory()
    item = EmailQueueItem(
        mass_email=mass_email,
        email_address=contact.email_address,
        email=contact.email_address.address,
    )
    item.set_target(contact)
    item.save()
    related = ("email_address", "contact", "lead", "account", "user")
    return EmailQueueItem.objects.select_related(*related).get(pk=item.pk)


def _bodies(mass_email, item=None, compiled=None):
    item = item or _item(mass_email)
    compiled = compiled or CompiledMassEmail.compile(mass_email)
    message = email.message_from_bytes(compiled.render(item).data, policy=policy.default)
    found = {}
    for subtype in ("html", "plain"):
        part = message.get_body(preferencelist=(subtype,))
        if part is not None and part.get_content_subtype() == subtype:
            found[subtype] = part.get_content().replace("\r\n", "\n")
    return item, found


def _tracked_hrefs(html):
    return [href for href in re.findall(r'href="([^"]+)"', html) if "/t/c/" in href]


@pytest.mark.parametrize("campaign_type", [CampaignType.EMAIL, CampaignType.NEWSLETTER])
def test_it_hides_one_honeypot_before_the_first_tracked_link(campaign_type):
    mass_email = _mass_email(
        campaign_type,
        body_html='<p>Hi</p><p><a href="{link0}">One</a> and <a href="{link1}">Two</a></p>',
        links=2,
    )
    link_ids = sorted(mass_email.campaign.tracking_urls.values_list("pk", flat=True))
    item, bodies = _bodies(mass_email)
    html = bodies["html"]
    (hidden,) = HIDDEN.findall(html)
    assert tokens.read(tokens.CLICK, hidden, count=2) == (item.pk, tokens.HONEYPOT_LINK_ID)
    assert html.startswith("<p>Hi</p><p>" + HIDDEN.search(html).group(0) + '<a href="')
    clicked = [tokens.read(tokens.CLICK, href.split("/")[-2], 2) for href in _tracked_hrefs(html)]
    assert clicked == [(item.pk, 0), *((item.pk, pk) for pk in link_ids)]


def test_it_puts_the_honeypot_just_inside_the_body_of_a_full_document():
    mass_email = _mass_email(
        body_html=(
            "<!DOCTYPE html><html><head><title>News</title></head>"
            '<body style="margin:0"><h1>News</h1><a href="{link0}">More</a></body></html>'
        )
    )
    _item_, bodies = _bodies(mass_email)
    hidden = HIDDEN.search(bodies["html"]).group(0)
    assert f'<body style="margin:0">{hidden}<h1>News</h1>' in bodies["html"]


def test_it_gives_each_recipient_its_own_honeypot_token():
    mass_email = _mass_email(body_html='<a href="{link0}">More</a>')
    compiled = CompiledMassEmail.compile(mass_email)
    seen = set()
    for _ in range(2):
        item, bodies = _bodies(mass_email, compiled=compiled)
        (token,) = HIDDEN.findall(bodies["html"])
        assert tokens.read(tokens.CLICK, token, count=2) == (item.pk, 0)
        seen.add(token)
    assert len(seen) == 2


@pytest.mark.parametrize("body_text", ["", "Read more: {link0}"])
def test_it_leaves_the_honeypot_out_of_the_plain_text(body_text):
    mass_email = _mass_email(body_html='<p>Hi <a href="{link0}">there</a></p>', body_text=body_text)
    item, bodies = _bodies(mass_email)
    honeypot = tokens.make(tokens.CLICK, item.pk, tokens.HONEYPOT_LINK_ID)
    assert HIDDEN.search(bodies["html"])
    assert "/t/c/" in bodies["plain"]
    assert honeypot not in bodies["plain"] and "\u200b" not in bodies["plain"]


def test_it_adds_no_honeypot_to_an_informational_email():
    mass_email = _mass_email(CampaignType.INFORMATIONAL, body_html='<a href="{link0}">Status</a>')
    item, bodies = _bodies(mass_email)
    assert "display:none" not in bodies["html"] and "/t/" not in bodies["html"]
    assert tokens.make(tokens.CLICK, item.pk, tokens.HONEYPOT_LINK_ID) not in bodies["html"]


def test_it_adds_no_honeypot_to_a_message_without_tracked_links():
    mass_email = _mass_email(body_html='<p>Hi, see <a href="https://shop.example/">us</a></p>')
    mass_email.track_all_links = False
    mass_email.save()
    item, bodies = _bodies(mass_email)
    assert "/t/o/" in bodies["html"] and "/t/u/" in bodies["html"]  # still tracked otherwise
    assert "/t/c/" not in bodies["html"] and "display:none" not in bodies["html"]
    assert tokens.make(tokens.CLICK, item.pk, tokens.HONEYPOT_LINK_ID) not in bodies["html"]
