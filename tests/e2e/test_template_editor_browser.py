"""The email template form in a real browser: source editor, live preview, insert at cursor."""

from pathlib import Path

import pytest
from django.conf import settings

from crm.models import EmailTemplate
from tests.e2e.test_campaign_browser import log_in
from tests.factories import CampaignFactory, MarketerFactory, TrackingUrlFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _screenshot(page, name: str) -> None:
    folder = Path(settings.BASE_DIR) / "var" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


def _frame_text(page) -> str:
    return page.frame_locator(".template-preview-frame").locator("body").inner_text()


def test_it_previews_as_you_type_and_inserts_at_the_cursor(page, live_server):
    campaign = CampaignFactory(name="Autumn sale")
    link = TrackingUrlFactory(campaign=campaign, name="Sale page", url="https://shop.example/")
    page.set_viewport_size({"width": 1400, "height": 1000})
    log_in(page, live_server, MarketerFactory())
    page.goto(f"{live_server.url}/admin/crm/emailtemplate/add/")
    page.wait_for_selector(".template-source-editor .cm-content")

    page.fill("#id_name", "Autumn")
    page.fill("#id_subject", "Hi {Person.firstName|there}")
    page.fill("#id_preheader", "Thirty percent off")
    editor = page.locator(".template-source-editor .cm-content")
    editor.click()
    page.keyboard.type("<p>Dear ")
    page.click("button.template-chip:text-is('{Person.name}')")
    page.keyboard.type(', see <a href="')
    page.select_option(".template-campaign", label="Autumn sale")
    page.click(f"button.template-chip:has-text('{link.code}')")
    page.keyboard.type('">our sale</a>.</p>')

    page.wait_for_function(
        "() => document.querySelector('.template-preview-frame').srcdoc.includes('our sale')"
    )
    assert _frame_text(page).strip() == "Dear Alex Morgan, see our sale."
    assert page.locator(".template-preview-subject").inner_text() == "Hi Alex"
    assert page.locator(".template-preview-preheader").inner_text() == "Thirty percent off"
    assert "our sale (https://shop.example/)" in page.locator(".template-preview-text").inner_text()
    # The frame runs no script and cannot reach this page.
    assert page.locator(".template-preview-frame").get_attribute("sandbox") == ""
    _screenshot(page, "template-editor-desktop.png")

    page.click("button.template-width[data-width=mobile]")
    page.wait_for_function(
        "() => document.querySelector('.template-preview-frame').clientWidth <= 375"
    )
    _screenshot(page, "template-editor-mobile.png")

    page.fill("#id_subject", "Hi {Person.shoeSize}")
    page.wait_for_selector(".template-preview-errors li[data-field=subject]")
    page.fill("#id_subject", "Hi {Person.firstName|there}")
    page.wait_for_selector(".template-preview-errors", state="hidden")

    page.click("input[name=_save]")
    page.wait_for_selector("text=was added successfully")
    template = EmailTemplate.objects.get(name="Autumn")
    expected = f'<p>Dear {{Person.name}}, see <a href="{link.code}">our sale</a>.</p>'
    assert template.body_html == expected
    assert template.preheader == "Thirty percent off"
