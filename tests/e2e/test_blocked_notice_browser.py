"""The mass email page tells a marketer first when receiving servers block the mailing."""

from pathlib import Path

import pytest
from django.conf import settings

from tests.campaigns.test_blocked_notice import LISTED, blocked
from tests.e2e.test_campaign_browser import log_in
from tests.factories import MarketerFactory, SentQueueItemFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_it_shows_which_domains_blocked_the_mass_email(page, live_server):
    mass_email = SentQueueItemFactory().mass_email
    for number in range(3):
        blocked(mass_email, f"reader{number}@outlook.com")
    blocked(mass_email, "reader@gmail.com", detail="smtp; 550 5.7.26 Unauthenticated email")
    log_in(page, live_server, MarketerFactory(username="mia"))

    page.goto(f"{live_server.url}/admin/campaigns/massemail/{mass_email.pk}/change/")

    notice = page.locator("#blocked-notice")
    notice.wait_for()
    bursts = notice.locator(".blocked-burst").all_inner_texts()
    assert bursts[0].startswith("3 messages blocked by outlook.com since ")
    assert LISTED[:40] in bursts[0]
    assert bursts[1].startswith("1 message blocked by gmail.com since ")
    screenshots = Path(settings.BASE_DIR) / "var" / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshots / "mass_email_blocked_notice.png"), full_page=True)
