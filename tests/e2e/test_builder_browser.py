"""The visual builder in a real browser: a newsletter built from a starter design, a section
dragged in, a placeholder and a tracking URL chosen from menus, an image uploaded, saved and
opened again; the preview shows the server's output. No request leaves for another host."""

from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from campaigns.models import MassEmailSettings
from crm.models import EmailTemplate
from tests.e2e.test_campaign_browser import log_in
from tests.e2e.test_security_headers_browser import watch_violations
from tests.factories import CampaignFactory, MarketerFactory, TrackingUrlFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
STARTERS = settings.BASE_DIR / "campaigns" / "static" / "campaigns" / "builder" / "starters"


def watch_other_hosts(page, live_server) -> list[str]:
    """Every request the page makes to a host other than the admin's own."""
    host = urlsplit(live_server.url).netloc
    seen: list[str] = []

    def check(request):
        url = urlsplit(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc != host:
            seen.append(request.url)

    page.on("request", check)
    return seen


def drag_block(page, block: str, sections: int) -> None:
    """Drags the builder's block `block` into the upper part of the canvas until the design
    has more than `sections` sections. A drag is mouse events at a browser's pace: on a busy
    machine the builder may miss one, and it is done again (three tries at most)."""
    page.locator(".gjs-frame").scroll_into_view_if_needed()
    frame = page.locator(".gjs-frame").bounding_box()
    source = page.locator(f".gjs-block[data-block={block}]").bounding_box()
    for attempt in range(3):
        page.mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(frame["x"] + frame["width"] / 2, frame["y"] + 30 * step, steps=4)
        page.mouse.up()
        try:
            page.wait_for_function(
                "n => document.querySelector('[name=body_mjml]').value"
                ".split('<mj-section').length > n",
                arg=sections + 1,
                timeout=10_000,
            )
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def open_settings(page) -> None:
    """Opens the selected block's settings (GrapesJS's trait manager), if not open already."""
    button = page.locator(".gjs-pn-views .gjs-pn-btn").nth(1)
    if "gjs-pn-active" not in (button.get_attribute("class") or ""):
        button.click()


def mjml(page) -> str:
    return page.locator("[name=body_mjml]").input_value()


def wait_for_mjml(page, text: str) -> None:
    page.wait_for_function(
        "text => document.querySelector('[name=body_mjml]').value.includes(text)", arg=text
    )


def wait_for_preview(page, text: str) -> None:
    page.wait_for_function(
        "text => document.querySelector('.template-preview-frame').srcdoc.includes(text)", arg=text
    )


@pytest.fixture
def site(live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    row = MassEmailSettings.load()
    row.site_url = live_server.url  # uploaded images and our icons are served there
    row.save()
    return live_server


def test_it_builds_a_newsletter_visually_and_opens_it_again(page, site, screenshot):
    link = TrackingUrlFactory(campaign=CampaignFactory(name="Spring"), name="Sale page")
    outside, violations = watch_other_hosts(page, site), watch_violations(page)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept("friend"))  # the fallback asked for
    page.set_viewport_size({"width": 1400, "height": 1000})
    log_in(page, site, MarketerFactory())
    page.goto(f"{site.url}/admin/crm/emailtemplate/add/")
    page.fill("#id_name", "Spring newsletter")
    page.fill("#id_subject", "Spring news for {Person.firstName|you}")
    page.check("input[name=editor][value=visual]")
    page.wait_for_selector(".template-builder[data-ready]")
    page.select_option(".builder-starters", "newsletter.en")
    canvas = page.frame_locator(".gjs-frame")
    canvas.locator("text=Spring news from Acme").wait_for()
    sections = mjml(page).count("<mj-section")

    drag_block(page, "section-2", sections)
    canvas.locator("text=Here is what is new this month").first.dblclick()
    page.keyboard.press("End")
    page.select_option(".gjs-rte-toolbar .builder-placeholder-menu", "{Person.firstName}")
    canvas.locator("text=Spring news from Acme").click()  # leaves the text, which syncs it
    wait_for_mjml(page, "{Person.firstName|friend}")

    page.select_option(".builder-campaign", label="Spring")
    page.wait_for_function("() => document.querySelector('.builder-campaign').value !== ''")
    canvas.locator("text=See the range").click()
    open_settings(page)
    page.wait_for_selector(f".builder-link-codes option[value='{link.code}']", state="attached")
    page.select_option(".builder-link-codes", link.code)
    wait_for_mjml(page, link.code)

    image = STARTERS / "banner-announcement.png"
    canvas.locator("img").nth(1).dblclick()  # the hero image opens the asset manager
    page.set_input_files(".gjs-mdl-dialog input[type=file]", str(image))
    page.locator(".gjs-am-asset").first.dblclick()
    wait_for_mjml(page, "/media/builder/")
    canvas.locator("img").nth(1).click()
    open_settings(page)
    page.fill(".gjs-trt-trait__wrp-alt input", "A chair in the garden")
    page.keyboard.press("Enter")
    wait_for_mjml(page, "A chair in the garden")

    wait_for_preview(page, "Hello Alex")  # the server's output, for the sample person
    page.locator(".template-builder").scroll_into_view_if_needed()
    path = screenshot(page, "builder-newsletter-page")
    page.screenshot(path=str(path.with_name("builder-newsletter.png")))  # the builder in view
    frame = page.frame_locator(".template-preview-frame")
    assert "Here is what is new this month" in frame.locator("body").inner_text()
    assert "Alex" in frame.locator("body").inner_text()  # {Person.firstName|friend}, filled
    page.locator(".template-preview-framebox").screenshot(
        path=str(path.with_name("builder-preview-desktop.png"))
    )
    page.click("button.template-width[data-width=mobile]")
    page.wait_for_function(
        "() => document.querySelector('.template-preview-frame').clientWidth <= 375"
    )
    page.locator(".template-preview-framebox").screenshot(
        path=str(path.with_name("builder-preview-mobile.png"))
    )

    page.click("input[name=_continue]")
    page.wait_for_selector("text=was added successfully")
    template = EmailTemplate.objects.get(name="Spring newsletter")
    assert template.is_visual and template.design.get("pages")
    assert "{Person.firstName|friend}" in template.body_mjml and link.code in template.body_mjml
    assert (
        "A chair in the garden" in template.body_html and "<!--[if mso | IE]>" in template.body_html
    )

    page.reload()
    page.wait_for_selector(".template-builder[data-ready]")
    page.frame_locator(".gjs-frame").locator("text=Spring news from Acme").wait_for()
    reopened = mjml(page)
    assert "{Person.firstName|friend}" in reopened and link.code in reopened
    assert "A chair in the garden" in reopened and "/media/builder/" in reopened
    assert reopened.count("<mj-section") == template.body_mjml.count("<mj-section")
    assert not outside, outside
    assert not violations, violations
    assert not errors, errors


def test_the_preview_shows_the_demo_newsletters_own_styles(page, live_server, screenshot):
    """Issue 21: the live preview ignored the template's <style> block; it shows the HTML as
    sent (CSS inlined), so the heading has the template's font, not the browser's serif."""
    with override_settings(DEBUG=True):  # the demo data loads only in development
        call_command("load_demo_data", verbosity=0)
    template = EmailTemplate.objects.get(name="Spring newsletter")
    assert "<style" in template.body_html and "<h1" in template.body_html
    page.set_viewport_size({"width": 1400, "height": 1000})
    log_in(page, live_server, MarketerFactory())
    page.goto(f"{live_server.url}{reverse('admin:crm_emailtemplate_change', args=[template.pk])}")
    # The editor fetches the preview (and again once the campaign's codes are in): read the
    # frame once nothing is left to fetch, so it is not replaced while it is being read.
    page.wait_for_load_state("networkidle")
    wait_for_preview(page, "<h1")
    heading = page.frame_locator(".template-preview-frame").locator("h1")
    family = heading.evaluate("h => getComputedStyle(h).fontFamily")
    assert "serif" not in family.replace("sans-serif", ""), family
    assert heading.evaluate("h => h.getAttribute('style')")  # inlined, as recipients get it
    screenshot(page, "template-preview-styled")
