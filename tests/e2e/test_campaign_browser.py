import pytest

from campaigns.models import Campaign
from tests.factories import MarketerFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_it_lets_a_marketer_build_a_list_and_a_campaign_for_it(page, live_server):
    marketer = MarketerFactory(username="mia")
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", marketer.username)
    page.fill("#id_password", "pw-for-tests-123")
    page.click("input[type=submit]")

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
    chosen = page.locator("#id_target_lists_to option").all_inner_texts()
    assert chosen == ["Spring fair visitors"]
    campaign = Campaign.objects.get(name="Spring fair follow-up")
    assert [str(target_list) for target_list in campaign.target_lists.all()] == [
        "Spring fair visitors"
    ]
    assert campaign.type == "newsletter"
