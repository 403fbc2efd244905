"""The web view: a recipient's own message in the browser, 404 for anything not genuine."""

import pytest
from django.urls import reverse

from campaigns.authoring import tokens
from campaigns.models import CampaignType, EmailQueueItem, MassEmailSettings
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    EmailTemplateFactory,
    MassEmailFactory,
    TrackingUrlFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mass_settings")]


def _sent_item(status=EmailQueueItem.Status.SENT, campaign_type=CampaignType.NEWSLETTER, **fields):
    campaign = CampaignFactory(type=campaign_type)
    link = TrackingUrlFactory(campaign=campaign, url="https://shop.example/sale")
    template = EmailTemplateFactory(
        body_html=fields.pop(
            "body_html",
            f'<p>Hi {{Person.firstName|there}} <a href="{link.code}">sale</a> '
            '<a href="{webViewUrl}">web</a></p>',
        ),
        **fields,
    )
    mass_email = MassEmailFactory(
        campaign=campaign, email_template=template, from_address="news@shop.example"
    )
    contact = ContactFactory(first_name="Ana <b>")
    item = EmailQueueItem.objects.create(
        mass_email=mass_email, contact=contact, email_address=contact.email_address, status=status
    )
    return item, link


def _url(item) -> str:
    return reverse("web_view", args=[tokens.make(tokens.WEB_VIEW, item.pk)])


def test_it_shows_the_recipients_message_with_working_links_and_no_pixel(client):
    settings = MassEmailSettings.load()
    settings.open_tracking = True
    settings.save()
    item, link = _sent_item()
    response = client.get(_url(item))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Hi Ana &lt;b&gt;" in page
    assert f"/t/c/{tokens.make(tokens.CLICK, item.pk, link.pk)}/" in page
    assert f"/t/u/{tokens.make(tokens.OPT_OUT, item.pk)}/" in page  # the appended opt-out link
    assert "/t/o/" not in page
    assert response["Content-Security-Policy"].startswith("sandbox ")
    assert "script-src 'none'" in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def test_it_shows_a_text_only_message_escaped(client):
    item, _link = _sent_item(body_html="", body_text="Hi <{Person.firstName}>")
    page = client.get(_url(item)).content.decode()
    assert "<pre" in page and "Hi &lt;Ana &lt;b&gt;&gt;" in page


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "zz-zz-zz.",
        "1.AAAAAAAAAAAAAAAAAAAAAA",
        "%00",
        "x" * 300,
        "1-2.abc",
    ],
)
def test_it_answers_404_for_garbled_or_forged_tokens(client, token):
    response = client.get(f"/t/v/{token}/")
    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()


def test_it_refuses_tokens_made_for_another_use(client):
    item, _link = _sent_item()
    for kind in (tokens.OPEN, tokens.OPT_OUT, tokens.HEADER):
        assert client.get(f"/t/v/{tokens.make(kind, item.pk)}/").status_code == 404


def test_it_shows_nothing_for_a_message_not_sent_or_gone(client):
    item, _link = _sent_item(status=EmailQueueItem.Status.FAILED)
    assert client.get(_url(item)).status_code == 404
    sent, _link = _sent_item()
    url = _url(sent)
    sent.delete()
    assert client.get(url).status_code == 404


def test_it_answers_404_when_the_template_no_longer_renders(client):
    item, _link = _sent_item()
    template = item.mass_email.email_template
    type(template).objects.filter(pk=template.pk).update(body_html="{Person.nope}")
    assert client.get(_url(item)).status_code == 404


def test_it_takes_no_post(client):
    item, _link = _sent_item()
    assert client.post(_url(item)).status_code == 405


def test_it_shows_a_changed_template_at_once_despite_its_cache(client):
    item, _link = _sent_item()
    assert "Hi Ana" in client.get(_url(item)).content.decode()
    template = item.mass_email.email_template
    template.body_html = "<p>Bye {Person.lastName|friend}</p>"
    template.save()
    assert "Bye " in client.get(_url(item)).content.decode()
