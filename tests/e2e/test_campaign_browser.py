import pytest

from campaigns.models import Campaign
from targetlists.models import TargetList
from tests.factories import ContactFactory, MarketerFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, user) -> None:
    """Log in to the admin as `user` (made by a factory, with the factories' password)."""
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-for-tests-123")
    page.click("input[type=submit]")


def test_it_lets_a_marketer_build_a_list_and_a_campaign_for_it(page, live_server):
    log_in(page, live_server, MarketerFactory(username="mia"))

    page.goto(f"{live_server.url}/admin/targetlists/targetlist/add/")
    page.fill("#id_name", "Spring fair visitors")
    page.click("input[name=_save]")
    page.wait_for_selector("text=was added successfully")

    page.goto(f"{live_server.url}/admin/campaigns/campaign/add/")
    page.fill("#id_name", "Spring fair follow-up")
    page.select_option("#id_type", label="Newsletter")
    # The target lists use the two-box selector: pick on the left, move right.
    page.select_option("#id_target_lists_from", label="Spring fair visitors")
    page.click("#id_target_lists_add")
    page.click("input[name=_continue]")

    page.wait_for_selector("text=was added successfully")
    assert page.locator("#id_name").input_value() == "Spring fair follow-up"
    # The admin's JavaScript builds the two boxes after the page loads: wait for it.
    page.wait_for_selector("#id_target_lists_to option", state="attached")
    chosen = page.locator("#id_target_lists_to option").all_inner_texts()
    assert chosen == ["Spring fair visitors"]
    campaign = Campaign.objects.get(name="Spring fair follow-up")
    assert [str(target_list) for target_list in campaign.target_lists.all()] == [
        "Spring fair visitors"
    ]
    assert campaign.type == "newsletter"


def test_it_adds_every_result_of_a_search_to_a_new_list(page, live_server):
    ContactFactory.create_batch(60, last_name="Garcia")
    ContactFactory.create_batch(3, last_name="Other")
    log_in(page, live_server, MarketerFactory())

    page.goto(f"{live_server.url}/admin/crm/contact/?q=garcia")
    page.check("#action-toggle")
    page.click(".question a")  # "Select all 60 contacts", beyond the first page of 50
    page.select_option("select[name=action]", "add_to_target_list")
    page.click("button[name=index]")
    page.wait_for_selector("text=Add 60 contacts to a target list")
    page.fill("#id_new_list_name", "Garcias")
    page.click("input[type=submit][value='Add to target list']")

    page.wait_for_selector("text=60 records added to target list “Garcias”.")
    target_list = TargetList.objects.get(name="Garcias")
    assert set(target_list.entries.values_list("contact__last_name", flat=True)) == {"Garcia"}
    assert target_list.entries.count() == 60


def test_it_lets_a_marketer_build_a_report_and_fill_a_list_with_it(page, live_server):
    ContactFactory.create_batch(2, last_name="Berg")
    ContactFactory(last_name="Other")
    TargetList.objects.create(name="Bergs")
    log_in(page, live_server, MarketerFactory())

    page.goto(f"{live_server.url}/admin/targetlists/report/add/")
    page.fill("#id_name", "People named Berg")
    page.select_option("#id_entity", label="Contacts")
    page.select_option("#id_target_lists_from", label="Bergs")
    page.click("#id_target_lists_add")
    page.select_option("#id_conditions-0-field", label="last name")
    page.select_option("#id_conditions-0-operator", label="is")
    page.fill("#id_conditions-0-value", "berg")
    page.click("text=Add another condition")  # the admin's inline JavaScript adds a row
    page.select_option("#id_conditions-1-field", label="created at")
    page.select_option("#id_conditions-1-operator", label="is within the last N days")
    page.fill("#id_conditions-1-value", "7")
    page.click("input[name=_continue]")

    page.wait_for_selector("text=was added successfully")
    assert page.locator(".field-matches strong").inner_text() == "2 records"
    page.goto(f"{live_server.url}/admin/targetlists/report/")
    page.check("input[name=_selected_action]")
    page.select_option("select[name=action]", "sync_now")
    page.click("button[name=index]")
    page.wait_for_selector("text=People named Berg: 2 added, 0 removed in 1 target list")
    assert TargetList.objects.get(name="Bergs").entries.count() == 2
