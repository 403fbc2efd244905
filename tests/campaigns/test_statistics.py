from decimal import Decimal

import pytest
from django.template.loader import render_to_string

from campaigns.models import MassEmailSettings
from campaigns.results.statistics import campaign_statistics, percent_of
from tests.factories import (
    CampaignFactory,
    CampaignLogRecordFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TrackingUrlFactory,
)
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db


def sent_items(campaign, count, **fields):
    mass_email = MassEmailFactory(campaign=campaign)
    items = [SentQueueItemFactory(mass_email=mass_email, **fields) for _ in range(count)]
    for item in items:
        CampaignLogRecordFactory(queue_item=item, action="sent")
    return items


def log(item, action, **fields):
    return CampaignLogRecordFactory(queue_item=item, action=action, **fields)


def hit(item, kind, machine=False, **fields):
    campaign = item.mass_email.campaign
    return TrackingHit.objects.create(
        queue_item=item, campaign=campaign, kind=kind, is_machine=machine, **fields
    )


def figures(campaign):
    return {f.key: f for f in campaign_statistics(campaign)}


def test_it_counts_each_figure_in_recipients_with_percentages_of_sent():
    campaign = CampaignFactory()
    items = sent_items(campaign, 3)
    links = [TrackingUrlFactory(campaign=campaign) for _ in range(2)]
    for item in items[:2]:
        log(item, "opened")
    log(items[0], "clicked", tracking_url=links[0])
    log(items[0], "clicked", tracking_url=links[1])
    log(items[1], "opted_out")
    log(items[2], "bounced", bounce_type="hard")
    log(items[1], "bounced", bounce_type="soft")
    log(items[0], "bounced", bounce_type="blocked")
    CampaignLogRecordFactory(
        queue_item=None,
        campaign=campaign,
        action="lead_created",
        contact=None,
        email_address=None,
        email="",
        is_test=False,
    )

    shown = figures(campaign)

    assert list(shown) == [
        "sent",
        "opened",
        "clicked",
        "opted_out",
        "bounced",
        "hard",
        "soft",
        "blocked",
        "leads",
    ]
    assert {key: f.value for key, f in shown.items()} == {
        "sent": 3,
        "opened": 2,
        "clicked": 1,
        "opted_out": 1,
        "bounced": 3,
        "hard": 1,
        "soft": 1,
        "blocked": 1,
        "leads": 1,
    }
    assert shown["opened"].percent == Decimal("66.67")
    assert shown["clicked"].percent == Decimal("33.33")
    assert shown["sent"].percent is None


def test_it_leaves_test_emails_out():
    campaign = CampaignFactory()
    (real,) = sent_items(campaign, 1)
    (test,) = sent_items(campaign, 1, is_test=True)
    log(real, "opened")
    log(test, "opened")
    log(test, "opted_out")

    shown = figures(campaign)

    assert (shown["sent"].value, shown["opened"].value, shown["opted_out"].value) == (1, 1, 0)


def test_it_counts_a_recipient_who_bounced_soft_then_hard_once():
    campaign = CampaignFactory()
    (item,) = sent_items(campaign, 1)
    log(item, "bounced", bounce_type="soft")
    log(item, "bounced", bounce_type="hard")

    shown = figures(campaign)

    assert (shown["bounced"].value, shown["hard"].value, shown["soft"].value) == (1, 1, 1)


def test_it_hides_opens_when_tracking_is_off_and_nobody_opened():
    campaign = CampaignFactory()
    sent_items(campaign, 2)

    assert "opened" not in figures(campaign)

    settings = MassEmailSettings.load()
    settings.open_tracking = True
    settings.save()
    assert figures(campaign)["opened"].value == 0


def test_it_shows_opens_when_there_are_some_even_with_tracking_off():
    campaign = CampaignFactory()
    (item,) = sent_items(campaign, 1)
    log(item, "opened")

    assert figures(campaign)["opened"].value == 1


@pytest.mark.parametrize(
    ("campaign_type", "keys"),
    [
        (
            "newsletter",
            ["sent", "clicked", "opted_out", "bounced", "hard", "soft", "blocked", "leads"],
        ),
        ("informational", ["sent", "bounced", "hard", "soft", "blocked"]),
        ("mail", ["sent", "leads"]),
        ("web", ["leads"]),
        ("television", ["leads"]),
        ("radio", ["leads"]),
    ],
)
def test_it_shows_the_figures_of_the_campaign_type(campaign_type, keys):
    assert list(figures(CampaignFactory(type=campaign_type))) == keys


def test_it_shows_human_figures_beside_the_totals():
    campaign = CampaignFactory()
    items = sent_items(campaign, 4)
    link = TrackingUrlFactory(campaign=campaign)
    for item in items[:3]:
        log(item, "opened")
    hit(items[0], "open", machine=True, reason="proxy")
    hit(items[0], "open", machine=True, reason="proxy")
    hit(items[1], "open")
    hit(items[1], "open")
    log(items[2], "clicked", tracking_url=link)
    hit(items[2], "click", tracking_url=link)
    log(items[3], "clicked", tracking_url=link)
    hit(items[3], "click", machine=True, reason="scanner", tracking_url=link)

    shown = figures(campaign)

    assert (shown["opened"].value, shown["opened"].human) == (3, 2)
    assert (shown["clicked"].value, shown["clicked"].human) == (2, 1)
    assert shown["sent"].human is None


def test_it_gives_two_decimals():
    assert percent_of(1, 3) == Decimal("33.33")
    assert percent_of(2, 3) == Decimal("66.67")
    assert percent_of(5, 0) is None


def test_it_needs_a_handful_of_queries(django_assert_max_num_queries):
    campaign = CampaignFactory()
    (item,) = sent_items(campaign, 1)
    log(item, "opened")
    log(item, "clicked", tracking_url=TrackingUrlFactory(campaign=campaign))
    log(item, "bounced", bounce_type="hard")

    with django_assert_max_num_queries(5):
        campaign_statistics(campaign)


def test_it_renders_the_table():
    campaign = CampaignFactory()
    (item,) = sent_items(campaign, 1)
    log(item, "opened")

    html = render_to_string(
        "campaigns/_statistics.html", {"statistics": campaign_statistics(campaign)}
    )

    assert "Sent" in html
    assert "100.00" in html
