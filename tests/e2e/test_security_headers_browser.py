"""The Content-Security-Policy in a real browser: the admin's pages (with their scripts, inline
style blocks and frames) and the public pages work and trigger no violation."""

import pytest
from django.urls import reverse

from campaigns.authoring import tokens
from tests.crm.test_captured_mail import send_to_capture
from tests.factories import (
    ContactFactory,
    EmailTemplateFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    UserFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def watch_violations(page) -> list[str]:
    """CSP violations the browser reports, from the console and the DOM event."""
    seen: list[str] = []
    page.on(
        "console",
        lambda message: (
            seen.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return seen


def test_the_admin_works_under_its_policy(page, live_server, settings, tmp_path):
    settings.DEBUG = True  # the captured-mail pages exist only in development
    settings.SMTP_CAPTURE_DIR = tmp_path
    send_to_capture(tmp_path, "Styled", html="<p style='color:red'>Hello <b>there</b></p>")
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    ContactFactory()
    mass_email = MassEmailFactory()
    template = EmailTemplateFactory(body_html="<p style='color: red'>Hi {Person.name}</p>")
    violations = watch_violations(page)

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", admin.username)
    page.fill("#id_password", "pw-for-tests-123")
    page.click("input[type=submit]")
    page.locator("#logout-form").wait_for(state="attached")
    page.goto(f"{live_server.url}/admin/crm/contact/")
    page.locator("#action-toggle").check()  # the admin's own script counts the selection
    assert "selected" in page.locator(".action-counter").inner_text()
    page.goto(
        f"{live_server.url}{reverse('admin:campaigns_massemail_change', args=[mass_email.pk])}"
    )
    assert page.locator(".object-tools button, .object-tools a").count() > 0
    page.goto(f"{live_server.url}{reverse('admin:crm_emailtemplate_preview', args=[template.pk])}")
    frame = page.frame_locator("#preview-html")
    assert frame.locator("p").evaluate("p => getComputedStyle(p).color") == "rgb(255, 0, 0)"
    page.goto(f"{live_server.url}{reverse('captured_mail_list')}")
    page.get_by_role("link", name="Styled").click()
    framed = page.frame_locator("#captured-html")
    assert framed.locator("p").evaluate("p => getComputedStyle(p).color") == "rgb(255, 0, 0)"
    assert (
        page.locator("#captured-text").evaluate("e => getComputedStyle(e).whiteSpace")
        in (
            "pre-wrap",
            "break-spaces",
        )
        or not page.locator("#captured-text").count()
    )
    # Pages with their own scripts and style blocks: the template editor (CodeMirror adds its
    # style sheet with the nonce), the campaign page and the results pages.
    page.goto(f"{live_server.url}{reverse('admin:crm_emailtemplate_change', args=[template.pk])}")
    page.wait_for_selector(".template-source-editor .cm-content")
    content = page.locator(".template-source-editor .cm-content")
    assert content.evaluate("e => getComputedStyle(e).whiteSpace") in ("pre-wrap", "break-spaces")
    campaign = mass_email.campaign
    page.goto(f"{live_server.url}{reverse('admin:campaigns_campaign_change', args=[campaign.pk])}")
    page.goto(f"{live_server.url}{reverse('admin:campaigns_campaign_results', args=[campaign.pk])}")
    page.goto(
        f"{live_server.url}{reverse('admin:campaigns_massemail_results', args=[mass_email.pk])}"
    )

    assert violations == []


def test_the_opt_out_page_is_styled_and_works_under_its_policy(page, live_server):
    item = SentQueueItemFactory()
    violations = watch_violations(page)

    page.goto(
        live_server.url + reverse("tracking:opt_out", args=[tokens.make(tokens.OPT_OUT, item.pk)])
    )
    background = page.locator("button").evaluate("b => getComputedStyle(b).backgroundColor")
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()

    assert background == "rgb(26, 86, 219)"  # the page's own style block applied
    assert violations == []
