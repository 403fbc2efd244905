"""A marketer reads a campaign's results, checks who will receive a mass email, presses Send now
and watches it go out (a real Celery worker, a real SMTP server), in Chromium at 1366 px."""

import time

import pytest
from django.contrib.auth.models import Permission

from campaigns.models import MassEmail
from campaigns.results import counters as result_counters
from crm.jobs import ensure_scheduled_jobs
from tests.campaigns.test_queue import address, in_list
from tests.campaigns.test_results import scenario
from tests.e2e.test_campaign_browser import log_in
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    EmailTemplateFactory,
    MarketerFactory,
    MassEmailFactory,
    TargetListFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
WIDE = {"width": 1366, "height": 900}


def marketer():
    user = MarketerFactory()
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_campaignlogrecord", "view_emailqueueitem"])
    )
    return user


def no_horizontal_scrolling(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_marketer_reads_the_results_of_a_campaign(page, live_server, screenshot):
    campaign, first, _second, home, _shop = scenario()
    result_counters.update_counters()
    page.set_viewport_size(WIDE)
    log_in(page, live_server, marketer())

    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    assert page.locator("#campaign-summary").is_visible()
    assert no_horizontal_scrolling(page)
    screenshot(page, "campaign-page")
    page.click("#campaign-results")

    page.wait_for_selector("#results-over-time svg.results-chart")
    points = page.locator("#chart-per-period svg.results-chart .point")
    assert points.count() >= 4
    assert page.locator("#figure-sent").inner_text() == "3"
    links = page.locator("#results-links tbody tr").all_inner_texts()
    assert any(home.name in row for row in links)
    domains = page.locator("#results-domains tbody tr td:first-child").all_inner_texts()
    assert domains == ["globex.test", "initech.test"]
    assert page.locator("#results-mass-emails tbody tr").count() == 2
    page.check("#chart-cumulative-toggle")
    assert page.locator("#chart-cumulative svg").is_visible()
    assert not page.locator("#chart-per-period svg").is_visible()
    assert no_horizontal_scrolling(page)
    screenshot(page, "campaign-results")


def wait_for_status(mass_email: MassEmail, status: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mass_email.refresh_from_db()
        if mass_email.status == status:
            return
        time.sleep(0.2)
    pytest.fail(f"mass email still {mass_email.status}, not {status}")


def test_a_marketer_checks_the_estimate_presses_send_now_and_watches_it_complete(
    page, live_server, screenshot, worker, smtp_server
):
    readers = TargetListFactory(name="Readers")
    for name in ("ann", "bob", "cy"):
        in_list(readers, ContactFactory(email_address=address(f"{name}@example.com")))
    in_list(readers, ContactFactory(email_address=address("out@example.com", opt_out=True)))
    mass_email = MassEmailFactory(
        campaign=CampaignFactory(status="active"),
        email_template=EmailTemplateFactory(body_html="<p>Hello {Person.firstName}</p>"),
        status=MassEmail.Status.PENDING,
        start_at=None,
    )
    mass_email.target_lists.add(readers)
    ensure_scheduled_jobs()  # a transactional test starts with empty tables
    page.set_viewport_size(WIDE)
    log_in(page, live_server, marketer())

    page.goto(f"{live_server.url}/admin/campaigns/massemail/{mass_email.pk}/change/")
    assert page.locator(".recipients-receive").inner_text() == "3 recipients will receive it"
    assert page.locator(".left-out-opted-out").inner_text() == "1"
    assert "not scheduled" not in page.locator("#next-run").inner_text()
    screenshot(page, "mass-email-before-sending")
    page.click("#send-now")
    page.wait_for_selector("text=Sending starts now")

    wait_for_status(mass_email, MassEmail.Status.COMPLETE)
    page.reload()
    assert page.locator(".progress-sent").inner_text() == "Sent: 3"
    assert page.locator(".progress-bar .sent").is_visible()
    assert smtp_server.total == 3
    assert no_horizontal_scrolling(page)
    screenshot(page, "mass-email-complete")
