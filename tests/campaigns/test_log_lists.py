import pytest

from campaigns.results.log_lists import NoActionsToInclude, create_target_list_from_log
from tests.factories import (
    AccountFactory,
    CampaignFactory,
    CampaignLogRecordFactory,
    ContactFactory,
    LeadFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TrackingUrlFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign():
    return CampaignFactory()


def item_for(campaign, is_test=False, **target):
    mass_email = MassEmailFactory(campaign=campaign)
    target = target or {"contact": ContactFactory()}
    person = next(iter(target.values()))
    fields = {"contact": None, **target}
    address = getattr(person, "email_address", None)
    return SentQueueItemFactory(
        mass_email=mass_email,
        is_test=is_test,
        email_address=address,
        email="x@example.com",
        **fields,
    )


def log(item, *actions):
    for action in actions:
        fields = {name: getattr(item, name) for name in ("account", "contact", "lead", "user")}
        link = (
            TrackingUrlFactory(campaign=item.mass_email.campaign) if action == "clicked" else None
        )
        CampaignLogRecordFactory(queue_item=item, action=action, tracking_url=link, **fields)


def members(target_list):
    return {entry.target for entry in target_list.entries.all()}


def test_it_lists_people_who_clicked_but_did_not_opt_out(campaign):
    clicked = item_for(campaign)
    clicked_then_left = item_for(campaign)
    only_opened = item_for(campaign)
    log(clicked, "sent", "opened", "clicked", "clicked")
    log(clicked_then_left, "sent", "clicked", "opted_out")
    log(only_opened, "sent", "opened")

    target_list = create_target_list_from_log(campaign, "Keen", ["clicked"], ["opted_out"])

    assert target_list.name == "Keen"
    assert members(target_list) == {clicked.contact}
    assert target_list.entries.get().opted_out is False


def test_it_takes_every_kind_of_person(campaign):
    people = [
        {"account": AccountFactory()},
        {"contact": ContactFactory()},
        {"lead": LeadFactory()},
        {"user": UserFactory()},
    ]
    for target in people:
        log(item_for(campaign, **target), "opened")

    target_list = create_target_list_from_log(campaign, "All openers", ["opened"])

    assert members(target_list) == {next(iter(t.values())) for t in people}


def test_it_leaves_test_records_out_of_both_sides(campaign):
    person = ContactFactory()
    log(item_for(campaign, is_test=True, contact=ContactFactory()), "clicked")
    log(item_for(campaign, contact=person), "clicked")
    log(item_for(campaign, is_test=True, contact=person), "opted_out")

    target_list = create_target_list_from_log(campaign, "Real", ["clicked"], ["opted_out"])

    assert members(target_list) == {person}


def test_it_reads_only_the_campaigns_own_log(campaign):
    log(item_for(CampaignFactory()), "clicked")
    mine = item_for(campaign)
    log(mine, "clicked")

    assert members(create_target_list_from_log(campaign, "Mine", ["clicked"])) == {mine.contact}


def test_it_excludes_a_person_by_any_of_their_items(campaign):
    person = ContactFactory()
    log(item_for(campaign, contact=person), "clicked")
    log(item_for(campaign, contact=person), "bounced")

    target_list = create_target_list_from_log(campaign, "No bounces", ["clicked"], ["bounced"])

    assert members(target_list) == set()


def test_it_needs_an_action_to_include(campaign):
    with pytest.raises(NoActionsToInclude):
        create_target_list_from_log(campaign, "Nothing", [], ["opted_out"])
