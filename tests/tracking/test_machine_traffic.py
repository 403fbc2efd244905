from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from tests.factories import SentQueueItemFactory, TargetListEntryFactory, TrackingUrlFactory
from tracking.classification import agent_reason
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


@pytest.fixture
def item():
    return SentQueueItemFactory()


@pytest.fixture
def links(item):
    return [TrackingUrlFactory(campaign=item.mass_email.campaign) for _ in range(2)]


def open_pixel(client, item, agent=BROWSER):
    client.get(
        reverse("tracking:open", args=[tokens.make(tokens.OPEN, item.pk)]), HTTP_USER_AGENT=agent
    )


def click(client, item, url_id, agent=BROWSER):
    path = reverse("tracking:click", args=[tokens.make(tokens.CLICK, item.pk, url_id)])
    return client.get(path, HTTP_USER_AGENT=agent)


def hits(kind=None):
    found = TrackingHit.objects.order_by("id")
    return list(found.filter(kind=kind) if kind else found)


@pytest.mark.parametrize(
    ("agent", "kind", "reason"),
    [
        (BROWSER, "open", ""),
        ("Mozilla/5.0", "open", "proxy"),
        ("Mozilla/5.0", "click", ""),
        ("", "open", "scanner"),
        ("Mozilla/5.0 (compatible; Barracuda Sentinel)", "click", "scanner"),
        ("python-requests/2.31", "click", "scanner"),
        ("Mozilla/5.0 (X11) HeadlessChrome/120.0", "open", "scanner"),
        ("Mozilla/5.0 (via ggpht.com GoogleImageProxy)", "open", ""),
        ("Go-http-client/1.1", "one_click", ""),
        ("Proofpoint URL Defense", "one_click", "scanner"),
    ],
)
def test_it_classifies_user_agents_by_the_documented_rules(agent, kind, reason):
    assert agent_reason(agent, kind) == reason


def test_it_counts_an_apple_privacy_proxy_open_as_a_machines_but_logs_it(client, item):
    open_pixel(client, item, agent="Mozilla/5.0")

    (hit,) = hits()
    assert (hit.is_machine, hit.reason) == (True, "proxy")
    assert CampaignLogRecord.objects.filter(queue_item=item, action="opened").count() == 1


def test_it_counts_a_persons_open_and_click_as_human(client, item, links):
    open_pixel(client, item)
    click(client, item, links[0].pk)

    assert [(h.kind, h.is_machine) for h in hits()] == [("open", False), ("click", False)]


def test_it_marks_a_click_seconds_after_sending_as_a_machines(client, item, links):
    fresh = SentQueueItemFactory(mass_email=item.mass_email, sent_at=timezone.now())

    click(client, fresh, links[0].pk)

    (hit,) = hits()
    assert (hit.is_machine, hit.reason) == (True, "too_soon")


def test_it_marks_the_burst_of_an_item_that_clicked_the_hidden_link(client, item, links):
    old = TrackingHit.objects.create(
        queue_item=item,
        campaign=item.mass_email.campaign,
        kind="open",
        at=timezone.now() - timedelta(minutes=5),
        user_agent=BROWSER,
    )
    open_pixel(client, item)
    click(client, item, links[0].pk)

    assert click(client, item, 0).status_code == 204
    click(client, item, links[1].pk)

    recent = [h for h in hits() if h.pk != old.pk]
    assert all(h.is_machine and h.reason == "trap" for h in recent)
    old.refresh_from_db()
    assert old.is_machine is False
    clicked = CampaignLogRecord.objects.filter(queue_item=item, action="clicked")
    assert clicked.count() == 2  # totals keep EspoCRM's meaning


def test_it_marks_all_links_clicked_in_one_burst(client, item, links):
    click(client, item, links[0].pk)
    click(client, item, links[0].pk)
    assert not any(h.is_machine for h in hits())

    click(client, item, links[1].pk)

    assert [(h.is_machine, h.reason) for h in hits("click")] == [(True, "burst")] * 3


def test_it_leaves_clicks_of_one_link_in_other_windows_alone(client, item, links):
    TrackingHit.objects.create(
        queue_item=item,
        campaign=item.mass_email.campaign,
        kind="click",
        tracking_url=links[0],
        at=timezone.now() - timedelta(minutes=2),
        user_agent=BROWSER,
    )

    click(client, item, links[1].pk)

    assert not any(h.is_machine for h in hits())


def test_it_unsubscribes_in_a_burst_and_only_classifies_the_hit(client, item):
    entry = TargetListEntryFactory(contact=item.contact)
    item.mass_email.target_lists.set([entry.target_list])
    click(client, item, 0)

    path = reverse("tracking:one_click", args=[tokens.make(tokens.OPT_OUT, item.pk)])
    response = client.post(path, {"List-Unsubscribe": "One-Click"}, HTTP_USER_AGENT=BROWSER)

    assert response.status_code == 200
    entry.refresh_from_db()
    assert entry.opted_out is True  # RFC 8058's request is honoured; the rules only classify
    assert CampaignLogRecord.objects.filter(action="opted_out").count() == 1
    assert hits("one_click")[0].is_machine is True
