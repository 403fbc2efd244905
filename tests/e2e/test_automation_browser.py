"""A marketer builds a welcome series in the admin (trigger, steps), activates it, sees the
people waiting at and passed each step, edits it while people are in it and sees the version
notice, moves everyone to the newest version, and previews it as a person."""

import pytest

from automation import engine
from automation.models import Automation
from crm import events
from tests.e2e.test_campaign_browser import log_in
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    EmailTemplateFactory,
    TargetListFactory,
    UserFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def pick(page, select_id: str, text: str) -> None:
    """Choose `text` in an autocomplete (select2) field: open it, type, click the result."""
    page.click(f"#{select_id} + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", text)
    page.click(f".select2-results__option:has-text('{text}')")


def add_step(page, index: int, order: int, kind: str, **fields) -> None:
    page.click("#steps-group .add-row a")
    prefix = f"id_steps-{index}-"
    page.fill(f"#{prefix}order", str(order))
    page.select_option(f"#{prefix}kind", kind)
    if "template" in fields:
        pick(page, f"{prefix}email_template", fields["template"])
    if "days" in fields:
        page.select_option(f"#{prefix}wait_kind", "duration")
        page.fill(f"#{prefix}wait_days", str(fields["days"]))


def test_a_welcome_series_is_built_watched_edited_live_and_previewed(page, live_server, screenshot):
    CampaignFactory(name="Onboarding")
    signups = TargetListFactory(name="Newsletter signups")
    for name, subject in (
        ("Welcome", "Welcome, {Person.firstName}"),
        ("Getting started", "Your first steps"),
        ("Still there?", "We miss you"),
    ):
        EmailTemplateFactory(name=name, subject=subject)
    log_in(page, live_server, UserFactory(username="ada", is_staff=True, is_superuser=True))

    # Build it: name, campaign, trigger, three steps.
    page.goto(f"{live_server.url}/admin/automation/automation/add/")
    page.fill("#id_name", "Welcome series")
    pick(page, "id_campaign", "Onboarding")
    page.select_option("#id_trigger", "list_joined")
    page.select_option("#id_trigger_list", label="Newsletter signups")
    add_step(page, 0, 1, "send", template="Welcome")
    add_step(page, 1, 2, "wait", days=3)
    add_step(page, 2, 3, "send", template="Getting started")
    page.click("input[name=_save]")
    page.wait_for_selector("text=was added successfully")
    made = Automation.objects.get(name="Welcome series")
    assert made.steps.count() == 3

    page.check(f"input[name=_selected_action][value='{made.pk}']")
    page.select_option("select[name=action]", "activate")
    page.click("button[name=index]")
    page.wait_for_selector("text=Welcome series is active.")

    # Two people join the list; a tick sends the welcome and they wait at step 2.
    ann, bob = ContactFactory(first_name="Ann"), ContactFactory(first_name="Bob")
    for person in (ann, bob):
        events.record_event(events.LIST_MEMBER_ADDED, {"target_list_id": signups.pk}, person=person)
    engine.tick()
    change = f"{live_server.url}/admin/automation/automation/{made.pk}/change/"
    page.goto(change)
    overview = page.locator(".field-steps_overview")
    assert "Version 1" in overview.inner_text()
    rows = overview.locator("table").first.locator("tr")
    assert rows.nth(0).inner_text().split("\t")[1:] == [
        "Send “Welcome”",
        "0 waiting now, 2 passed, 0 sent, 0 opened, 0 clicked, 0 opened by machines, "
        "0 clicked by machines",
    ]
    assert "2 waiting now, 0 passed" in rows.nth(1).inner_text()
    screenshot(page, "automation-editor")

    # Edit it live: a fourth step. People already in it keep version 1.
    add_step(page, 3, 4, "send", template="Still there?")
    page.click("input[name=_continue]")
    page.wait_for_selector("text=Saved as version 2.")
    notice = page.locator(".version-notice")
    assert notice.inner_text() == (
        "2 people still on version 1: they finish it, with its steps as they were."
    )
    overview = page.locator(".field-steps_overview")
    assert "Version 2" in overview.inner_text()
    current, older = overview.locator("table").all()
    assert current.locator("tr").count() == 4 and older.locator("tr").count() == 3
    assert "Send “Still there?”" in current.inner_text()
    assert "2 waiting now" in older.locator("tr").nth(1).inner_text()
    assert page.locator("#steps-group .inline-related.has_original").count() == 4
    screenshot(page, "automation-versions")

    # Move everyone to the newest version, on purpose.
    page.goto(f"{live_server.url}/admin/automation/automation/")
    page.check(f"input[name=_selected_action][value='{made.pk}']")
    page.select_option("select[name=action]", "move_to_newest_version")
    page.click("button[name=index]")
    page.wait_for_selector("text=Welcome series: 2 people moved to version 2.")
    page.goto(change)
    assert page.locator(".version-notice").count() == 0

    # Preview as a person: what Ann would receive, and when.
    page.click("text=Preview as a person")
    page.fill("#preview-q", ann.email_address.address)
    page.click("input[type=submit][value=Search]")
    page.click(f".preview-matches a[href*='person_id={ann.pk}']")
    table = page.locator("#content table")
    table.wait_for()
    text = table.inner_text()
    assert "Welcome, Ann" in text and "We miss you" in text and "Wait 3 days 0 hours" in text
    screenshot(page, "automation-preview")
    page.locator("#content table a", has_text="See the email").first.click()
    page.wait_for_selector("#preview-subject")
    assert page.inner_text("#preview-subject") == "Welcome, Ann"
    screenshot(page, "automation-preview-email")
