"""The A/B test panel in a real browser: variants side by side, the reasoning, Choose winner;
and Follow up non-openers."""

import datetime

import pytest
from django.utils import timezone

from campaigns.models import MassEmail
from tests.campaigns.test_ab_admin import decided_test
from tests.e2e.test_campaign_browser import log_in
from tests.factories import MarketerFactory, MassEmailFactory, SentQueueItemFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_marketer_reads_the_test_and_chooses_the_winner(page, live_server, screenshot):
    mass_email, b, held = decided_test()
    log_in(page, live_server, MarketerFactory(username="ana"))

    page.goto(f"{live_server.url}/admin/campaigns/massemail/{mass_email.pk}/change/")

    panel = page.locator("#ab-test")
    panel.wait_for()
    assert "Waiting for a person to choose" in panel.locator("h2").inner_text()
    rows = panel.locator("table.ab-variants tbody tr").all_inner_texts()
    assert rows[0].startswith("Variant A") and "1 (25.0 %" in rows[0]
    assert rows[1].startswith("Variant B") and "3 (75.0 %" in rows[1]
    screenshot(page, "ab_test_waiting")
    panel.locator("table.ab-variants tbody tr").nth(1).locator("button.choose-winner").click()
    page.locator("#ab-test").wait_for()
    assert "Variant B is the winner" in page.locator(".messagelist").inner_text()
    assert "Winner: Variant B" in page.locator("#ab-test").inner_text()
    assert "★ winner" in page.locator("tr.ab-winner").inner_text()
    screenshot(page, "ab_test_winner_chosen")
    held.refresh_from_db()
    assert held.variant == b


def test_a_marketer_follows_up_non_openers(page, live_server, screenshot):
    mass_email = MassEmailFactory(status=MassEmail.Status.COMPLETE, name="Spring news")
    SentQueueItemFactory(mass_email=mass_email, sent_at=timezone.now() - datetime.timedelta(3))
    log_in(page, live_server, MarketerFactory(username="leo"))
    page.goto(f"{live_server.url}/admin/campaigns/massemail/{mass_email.pk}/change/")

    page.locator("#follow-up").click()
    page.locator("#id_subject").fill("Did you see our spring news?")
    page.locator("#id_hours").fill("48")
    screenshot(page, "follow_up_form")
    page.locator("#follow-up-form input[type=submit]").click()

    page.locator(".messagelist").wait_for()
    follow_up = MassEmail.objects.get(follow_up_of=mass_email)
    assert page.url.endswith(f"/admin/campaigns/massemail/{follow_up.pk}/change/")
    assert page.locator("#id_subject").input_value() == "Did you see our spring news?"
    assert "1 recipient will receive it" in page.locator("#recipient-count").inner_text()
    screenshot(page, "follow_up_draft")
