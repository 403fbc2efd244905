"""A template built visually, sent through the real pipeline, as its recipient receives it.

The newsletter starter design, with a tracking URL code on a button, is saved through the
template form (the server checks and compiles it), sent by the sending job to a real SMTP server
(aiosmtpd), and the received HTML is read: the compiled MJML (tables, Outlook conditionals),
SpamAssassin's score against the demo newsletter's, its layout in Chromium at desktop width and at
375 px (screenshots saved), every placeholder filled and every link tracked.
"""

import re
from email import message_from_bytes, policy

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.authoring import starters
from campaigns.models import CampaignType, MassEmail, MassEmailSettings
from campaigns.sending.job import run_send_job
from crm.models import EmailTemplate
from tests.campaigns.test_spam_score import _demo_message, _received, _score
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    MarketerFactory,
    MassEmailFactory,
    TargetListEntryFactory,
    TrackingUrlFactory,
)
from tests.integration.smtp_server import SmtpServer, configure_system_smtp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
DESKTOP, PHONE = 1024, 375
WIDEST = 600


@pytest.fixture
def smtp(live_server):
    server = SmtpServer().start()
    configure_system_smtp(server.port)
    row = MassEmailSettings.load()
    row.site_url = live_server.url  # the design's images and icons are served there
    row.max_per_hour, row.max_per_batch = 1000, None
    row.save()
    yield server
    server.stop()


def built_template(client, campaign) -> EmailTemplate:
    """The newsletter starter, its first button linked to a tracking URL, saved by the form."""
    link = TrackingUrlFactory(campaign=campaign, name="Garden range", url="https://shop.example/")
    base_url = MassEmailSettings.load().base_url
    source = starters.starters(base_url, "en")[0].mjml
    source = source.replace('href="https://www.example.com/garden"', f'href="{link.code}"', 1)
    client.force_login(MarketerFactory())
    response = client.post(
        reverse("admin:crm_emailtemplate_add"),
        {
            "name": "Built newsletter",
            "subject": "Spring news for {Person.firstName|you}",
            "preheader": "A garden range, longer hours and a free workshop",
            "editor": "visual",
            "design": '{"pages": []}',
            "body_mjml": source,
            "attachments-TOTAL_FORMS": "0",
            "attachments-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    return EmailTemplate.objects.get(name="Built newsletter")


def send(template, campaign) -> tuple[bytes, object]:
    """The template sent by the sending job to one contact; the bytes the server received."""
    contact = ContactFactory(first_name="Ana", email_address__address="ana@example.net")
    entry = TargetListEntryFactory(contact=contact)
    mass_email = MassEmailFactory(
        campaign=campaign,
        email_template=template,
        status=MassEmail.Status.PENDING,
        start_at=timezone.now(),
        from_address="news@example.com",
        track_all_links=True,
    )
    mass_email.target_lists.add(entry.target_list)
    run_send_job()
    return contact


def widest(page) -> tuple[float, str]:
    """The widest element of the message (the page and MJML's full-width root aside)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('body *'))
            .filter(e => !e.matches('[role=article]'))
            .map(e => [e.getBoundingClientRect().width, e.tagName + '.' + e.className])
            .reduce((a, b) => (b[0] > a[0] ? b : a), [0, ''])"""
    )


def test_it_receives_a_built_newsletter_that_renders_everywhere(
    smtp, live_server, client, page, screenshot
):
    campaign = CampaignFactory(type=CampaignType.NEWSLETTER, name="Spring")
    demo_score, _rules, _report = _score(_demo_message())  # also signs example.com (DKIM)
    template = built_template(client, campaign)
    contact = send(template, campaign)

    (data,) = [raw for _from, to, raw in smtp.handler.messages if to == "ana@example.net"]
    message = message_from_bytes(data, policy=policy.default)
    html = message.get_body(("html",)).get_content()
    body = html.split("<body", 1)[1]
    assert "<table" in body and "<!--[if mso | IE]>" in body and "mj-column-per-50" in html
    assert "<!--[if mso]>" in html.split("<body", 1)[0]  # Outlook's settings, kept in the head
    assert contact.first_name in body and not re.search(r"\{[A-Za-z]", body)
    assert message["Subject"] == "Spring news for Ana"
    links = re.findall(r'href="([^"]+)"', body)
    tracked = [link for link in links if re.match(rf"{live_server.url}/t/[cuv]/", link)]
    assert links and tracked == links, [link for link in links if link not in tracked]

    score, rules, report = _score(_received_bytes(data))
    hits = "\n".join(f"{points:5.1f} {name}: {text}" for points, name, text in rules)
    assert score <= demo_score, f"{score} > demo {demo_score}:\n{hits}\n{report}"

    page.set_viewport_size({"width": DESKTOP, "height": 900})
    page.set_content(html, wait_until="load")
    width, element = widest(page)
    assert width <= WIDEST + 0.5, f"{element} is {width} px wide"
    screenshot(page, "builder-received-desktop")
    page.set_viewport_size({"width": PHONE, "height": 800})
    page.wait_for_function(f"() => document.documentElement.clientWidth === {PHONE}")
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= PHONE, f"scrolls sideways: {scroll} px at {PHONE} px"
    columns = page.locator(".mj-column-per-50").evaluate_all("cs => cs.map(c => c.offsetWidth)")
    assert columns and all(width > PHONE / 2 for width in columns)  # stacked, full width
    screenshot(page, "builder-received-mobile")


def _received_bytes(data: bytes) -> bytes:
    """`data` with the Return-Path and Received lines a receiving server adds."""

    class Sent:
        envelope_from = "news@example.com"
        recipient = "ana@example.net"

    sent = Sent()
    sent.data = data
    return _received(sent)
