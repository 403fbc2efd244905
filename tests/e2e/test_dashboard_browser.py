"""A marketer opens the admin and lands on the dashboard (sending now, scheduled next, the last
mass emails, list growth, deliverability), follows its links, and finds the model list a click
away; in English and in Spanish, in Chromium at 1366 px and 375 px."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import EmailQueueItem
from campaigns.results import counters as result_counters
from crm.models import ConsentRecord
from tests.campaigns.test_results import scenario, sent_to
from tests.e2e.test_campaign_browser import log_in
from tests.factories import (
    MarketerFactory,
    MassEmailFactory,
    PendingQueueItemFactory,
    TargetListEntryFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
WIDE = {"width": 1366, "height": 900}
PHONE = {"width": 375, "height": 800}


def data():
    now = timezone.now()
    campaign, first, second, _home, _shop = scenario()
    for mass_email in (first, second):
        mass_email.start_at = now - timedelta(days=1)
        mass_email.save()
    sending = MassEmailFactory(campaign=campaign, status="in_process", name="Spring wave")
    sending.start_at = now - timedelta(minutes=5)
    sending.save()
    done = sent_to(sending, "dee@globex.test")
    EmailQueueItem.objects.filter(pk=done.pk).update(sent_at=now - timedelta(seconds=20))
    for _n in range(3):
        PendingQueueItemFactory(mass_email=sending)
    MassEmailFactory(
        campaign=campaign, status="pending", name="Summer news", start_at=now + timedelta(days=1)
    )
    for _n in range(4):
        TargetListEntryFactory()
    ConsentRecord.objects.create(email="bob@globex.test", action="opt_out", method="page")
    result_counters.update_counters()
    return first, sending


def no_horizontal_scrolling(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_marketer_starts_from_the_dashboard(page, live_server, screenshot):
    first, sending = data()
    page.set_viewport_size(WIDE)
    log_in(page, live_server, MarketerFactory())
    page.wait_for_selector("#dashboard-sending")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert "Spring wave" in page.locator("#dashboard-sending").inner_text()
    assert page.locator("#dashboard-sending progress").get_attribute("value") == "1"
    assert "Summer news" in page.locator("#dashboard-scheduled").inner_text()
    assert page.locator("#dashboard-last tbody tr").count() == 3
    assert page.locator("#dashboard-growth svg.weekly-chart .bar").count() == 24
    assert page.locator("#deliverability-bounces .health-bad").is_visible()
    assert no_horizontal_scrolling(page)
    screenshot(page, "dashboard-en")

    page.set_viewport_size(PHONE)
    assert no_horizontal_scrolling(page)
    screenshot(page, "dashboard-en-375")
    page.set_viewport_size(WIDE)

    page.click(f"#dashboard-last a[href$='/massemail/{first.pk}/results/']")
    page.wait_for_selector("#headline")
    assert page.locator("#figure-sent").inner_text() == "2"
    page.click("#header-models")
    page.wait_for_selector("#models-dashboard")
    assert page.locator("a[href='/admin/campaigns/massemail/']").first.is_visible()
    page.click("#models-dashboard")
    page.wait_for_selector("#dashboard-sending")
    page.click(f"#dashboard-sending a[href$='/massemail/{sending.pk}/change/']")
    page.wait_for_selector("#massemail_form")


def test_the_dashboard_speaks_spanish(browser, live_server, screenshot):
    data()
    context = browser.new_context(locale="es-ES", viewport=WIDE)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        log_in(page, live_server, MarketerFactory())
        page.wait_for_selector("#dashboard-sending")
        assert page.locator("h1").inner_text() == "Panel"
        assert page.locator("#dashboard-sending h2").inner_text().lower() == "enviando ahora"
        assert (
            "Crecimiento de las listas".lower()
            in page.locator("#dashboard-growth").inner_text().lower()
        )
        assert page.locator("#header-models").inner_text().lower() == "todos los modelos"
        assert no_horizontal_scrolling(page)
        screenshot(page, "dashboard-es")
    finally:
        context.close()
