"""Tracking URL codes checked on save and on Pending; every link tracked at compile time."""

import email
from email import policy
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError

from campaigns.authoring import link_tracking, tokens
from campaigns.authoring.rendering import CompiledMassEmail
from campaigns.models import CampaignType, EmailQueueItem, MassEmail, TrackingUrl
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    EmailTemplateFactory,
    MassEmailFactory,
    TrackingUrlFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mass_settings")]

NEWSLETTER = """<html><body>
<p>Our <a href="https://shop.example/autumn?ref=mail">autumn <b>sale</b></a> is on.</p>
<p><a href="https://shop.example/autumn?ref=mail">Same link again</a>
<a href='https://blog.example/post'><img src="https://cdn.example/i.png" alt="Read the post"></a>
<a href="mailto:help@shop.example">Write</a> <a href="tel:+341234">Call</a>
<a href="#top">Top</a> <a href="{optOutUrl}">Unsubscribe</a> <a href="{webViewUrl}">Web</a>
<a href="https://shop.example/private" data-notrack>Account</a>
<a href="https://shop.example/?u={Person.emailAddress}">Personal</a>
<a href="https://shop.example/a&amp;b">Ampersand</a></p>
</body></html>"""


def _mass_email(body_html=NEWSLETTER, body_text="", **fields):
    campaign = CampaignFactory(type=fields.pop("campaign_type", CampaignType.NEWSLETTER))
    template = EmailTemplateFactory(body_html=body_html, body_text=body_text)
    return MassEmailFactory(
        campaign=campaign, email_template=template, from_address="news@shop.example", **fields
    )


def _message(mass_email, address="ann@example.net"):
    contact = ContactFactory(email_address__address=address)
    item = EmailQueueItem.objects.create(
        mass_email=mass_email,
        contact=contact,
        email_address=contact.email_address,
        email=contact.email_address.address,
    )
    item = EmailQueueItem.objects.select_related("contact", "email_address").get(pk=item.pk)
    rendered = CompiledMassEmail.compile(mass_email).render(item)
    message = email.message_from_bytes(rendered.data, policy=policy.default)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    return item, html, text


def test_it_makes_one_tracking_url_per_distinct_web_link_named_from_its_text():
    mass_email = _mass_email()
    item, html, text = _message(mass_email)
    urls = {t.url: t.name for t in TrackingUrl.objects.filter(campaign=mass_email.campaign)}
    assert urls == {
        "https://shop.example/autumn?ref=mail": "autumn sale",
        "https://blog.example/post": "Read the post",
        "https://shop.example/a&b": "Ampersand",
    }
    for tracking_url in TrackingUrl.objects.all():
        token = tokens.make(tokens.CLICK, item.pk, tracking_url.pk)
        assert f"/t/c/{token}/" in html
        assert f"/t/c/{token}/" in text  # the derived text version links the same way
    assert "https://shop.example/autumn" not in html


def test_it_leaves_other_links_alone():
    _item, html, _text = _message(_mass_email())
    for kept in (
        "mailto:help@shop.example",
        "tel:+341234",
        'href="#top"',
        'href="https://shop.example/private" data-notrack',
        "https://shop.example/?u=ann@example.net",
    ):
        assert kept in html
    assert "/t/u/" in html and "/t/v/" in html


def test_it_reuses_the_campaigns_tracking_urls_by_address():
    mass_email = _mass_email()
    existing = TrackingUrlFactory(
        campaign=mass_email.campaign, name="Sale", url="https://shop.example/autumn?ref=mail"
    )
    _message(mass_email)
    _message(mass_email, "bob@example.net")  # compiling again makes nothing new
    assert TrackingUrl.objects.filter(campaign=mass_email.campaign).count() == 3
    existing.refresh_from_db()
    assert existing.name == "Sale"


def test_it_tracks_nothing_when_the_option_is_off_or_the_email_is_informational():
    _message(_mass_email(track_all_links=False))
    _message(_mass_email(campaign_type=CampaignType.INFORMATIONAL))
    assert not TrackingUrl.objects.exists()


def test_it_adds_utm_tags_without_overriding_a_links_own():
    body = (
        '<a href="https://shop.example/x?utm_source=partner#top">A</a>'
        '<a href="https://shop.example/y">B</a>'
    )
    mass_email = _mass_email(body_html=body, utm_tags=True)
    mass_email.campaign.name = "Otoño 2026"
    mass_email.campaign.save()
    _message(mass_email)
    a, b = TrackingUrl.objects.order_by("name")
    assert urlsplit(a.url).fragment == "top"
    assert parse_qs(urlsplit(a.url).query) == {
        "utm_source": ["partner"],
        "utm_medium": ["email"],
        "utm_campaign": ["otono-2026"],
    }
    assert parse_qs(urlsplit(b.url).query)["utm_source"] == ["newsletter"]


def test_it_takes_the_marketers_utm_values():
    tags = link_tracking.UtmTags.of(
        MassEmailFactory(utm_tags=True, utm_source="weekly", utm_campaign="black-friday")
    )
    assert tags.add_to("https://a.example/?q=1") == (
        "https://a.example/?q=1&utm_source=weekly&utm_medium=email&utm_campaign=black-friday"
    )


def test_it_tracks_the_same_links_in_a_written_plain_text():
    body_text = "Sale: https://shop.example/autumn?ref=mail.\nBlog https://blog.example/postscript"
    mass_email = _mass_email(body_text=body_text)
    item, _html, text = _message(mass_email)
    sale = TrackingUrl.objects.get(url="https://shop.example/autumn?ref=mail")
    assert f"/t/c/{tokens.make(tokens.CLICK, item.pk, sale.pk)}/." in text
    assert "https://blog.example/postscript" in text  # another URL that only starts alike


def test_it_refuses_to_save_a_template_naming_a_tracking_url_that_does_not_exist():
    link = TrackingUrlFactory()
    template = EmailTemplateFactory.build(
        subject=f"See {{trackingUrl:{link.pk + 1000}}}",
        body_html=f'<a href="{link.code}">ok</a> <a href="{{trackingUrl:{link.pk + 99}}}">x</a>',
    )
    with pytest.raises(ValidationError) as raised:
        template.full_clean()
    errors = raised.value.message_dict
    assert errors["subject"] == [
        f"{{trackingUrl:{link.pk + 1000}}} matches no tracking URL; "
        "copy the code from a campaign's list."
    ]
    assert f"{{trackingUrl:{link.pk + 99}}}" in errors["body_html"][0]
    assert link.code not in errors["body_html"][0]


def test_it_refuses_pending_while_the_template_names_another_campaigns_tracking_urls():
    mass_email = _mass_email(body_html="<p>x</p>")
    ours = TrackingUrlFactory(campaign=mass_email.campaign)
    theirs = [TrackingUrlFactory(), TrackingUrlFactory()]
    template = mass_email.email_template
    template.body_html = " ".join(f'<a href="{t.code}">x</a>' for t in [ours, *theirs])
    template.save()
    mass_email.full_clean()  # a Draft may still be fixed later
    mass_email.status = MassEmail.Status.PENDING
    with pytest.raises(ValidationError) as raised:
        mass_email.full_clean()
    message = raised.value.message_dict["email_template"][0]
    assert f"{theirs[0].code}, {theirs[1].code}" in message and ours.code not in message
    template.body_html = f'<a href="{ours.code}">x</a>'
    template.save()
    mass_email.full_clean()


def test_it_keeps_a_long_link_trackable_when_the_tags_would_make_it_too_long():
    long_url = "https://shop.example/" + "x" * 1970  # 1,991 characters of 2,000
    mass_email = _mass_email(body_html=f'<a href="{long_url}">Long</a>', utm_tags=True)
    _message(mass_email)
    assert TrackingUrl.objects.get().url == long_url


def test_it_leaves_a_link_too_long_to_store_as_it_is():
    too_long = "https://shop.example/" + "y" * 2000
    _item, html, _text = _message(_mass_email(body_html=f'<a href="{too_long}">Long</a>'))
    assert not TrackingUrl.objects.exists() and too_long in html
