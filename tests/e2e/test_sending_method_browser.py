"""The outbound email settings page shows each sending method's own fields, in English and
Spanish, and never shows a stored API key back."""

import pytest

from crm.models import OutboundEmailSettings
from tests.e2e.test_campaign_browser import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def administrator():
    return UserFactory(username="ada", is_staff=True, is_superuser=True, email="ada@example.com")


def shown(page, name: str) -> bool:
    return page.locator(f".form-row.field-{name}").first.is_visible()


def test_each_method_shows_its_own_fields_and_the_key_is_write_only(page, live_server, screenshot):
    OutboundEmailSettings.load()
    log_in(page, live_server, administrator())
    page.goto(f"{live_server.url}/admin/crm/outboundemailsettings/1/change/")

    assert shown(page, "smtp_host") and not shown(page, "esp_api_key")
    page.select_option("#id_sending_method", "mailgun")
    assert not shown(page, "smtp_host")
    assert shown(page, "esp_api_key") and shown(page, "esp_domain") and shown(page, "esp_region")
    assert not shown(page, "esp_access_key_id")
    page.select_option("#id_sending_method", "amazon_ses")
    assert shown(page, "esp_access_key_id") and not shown(page, "esp_domain")

    page.select_option("#id_sending_method", "postmark")
    page.click("input[name=_continue]")
    assert "needs its API key" in page.locator(".field-esp_api_key .errorlist").inner_text()
    page.fill("#id_esp_api_key", "pm-server-token-1234")
    page.click("input[name=_continue]")
    page.locator(".messagelist").wait_for()
    row = OutboundEmailSettings.load()
    assert row.sending_method == "postmark" and row.esp_api_key == "pm-server-token-1234"
    assert "pm-server-token-1234" not in page.content()
    assert row.esp_api_key_encrypted not in page.content()
    assert shown(page, "esp_api_key") and not shown(page, "smtp_host")
    screenshot(page, "outbound_settings_postmark")

    screenshot(page, "outbound_settings_postmark")


def test_the_fields_speak_spanish(browser, live_server, screenshot):
    OutboundEmailSettings.load()
    context = browser.new_context(locale="es-ES")
    page = context.new_page()
    try:
        log_in(page, live_server, administrator())
        page.goto(f"{live_server.url}/admin/crm/outboundemailsettings/1/change/")
        page.select_option("#id_sending_method", "amazon_ses")
        content = page.content()
        assert "Método de envío (SMTP o la API de un ESP)" in content
        assert "ID de clave de acceso" in content and "API de Amazon SES" in content
        screenshot(page, "outbound_settings_amazon_ses_es")
    finally:
        context.close()
