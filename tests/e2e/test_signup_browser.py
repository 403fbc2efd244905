"""The signup flow in a browser: form, confirmation mail sent by a real Celery worker to a real
SMTP server, link, entries."""

import re
import time
from pathlib import Path

import pytest

from campaigns.models import CampaignLogRecord, MassEmailSettings
from crm.models import ConsentRecord
from tests.factories import SignupFormFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
WAIT = 60  # seconds: a generous deadline for the worker, never a timing assertion


def mail_to(smtp_server, address: str):
    """The one message the worker sends to `address`, once it has arrived."""
    deadline = time.monotonic() + WAIT
    while not smtp_server.messages_to(address):
        if time.monotonic() > deadline:
            pytest.fail(f"no confirmation email to {address} after {WAIT}s")
        time.sleep(0.05)
    (message,) = smtp_server.messages_to(address)
    return message


def test_it_signs_up_with_double_opt_in_in_a_browser(live_server, page, worker, smtp_server):
    row = MassEmailSettings.load()
    row.site_url = live_server.url
    row.save()
    form = SignupFormFactory(double_opt_in=True, title="Our newsletter")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(f"{live_server.url}/f/{form.key}/")
    page.get_by_label("Email").fill("rosa@example.com")
    page.get_by_label("First name").fill("Rosa")
    page.screenshot(path=str(SCREENSHOTS / "signup-form.png"))
    page.get_by_role("button", name="Sign up").click()
    page.get_by_text("Please check your inbox").wait_for()

    message = mail_to(smtp_server, "rosa@example.com")
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    link = re.search(r"https?://\S+/f/confirm/\S+/", text.get_payload(decode=True).decode())
    log = CampaignLogRecord.objects.filter(campaign=form.campaign)
    assert list(log.values_list("action", flat=True)) == ["lead_created"]
    assert not form.target_lists.get().entries.exists()

    page.goto(link.group(0))
    page.get_by_role("button", name="Confirm my subscription").click()
    page.get_by_role("heading", name="You are subscribed").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "signup-confirmed.png"))

    entry = form.target_lists.get().entries.get()
    assert entry.lead.first_name == "Rosa" and entry.opted_out is False
    assert sorted(log.values_list("action", flat=True)) == ["lead_created", "opted_in"]
    assert ConsentRecord.objects.get(lead=entry.lead).text == form.consent_text
