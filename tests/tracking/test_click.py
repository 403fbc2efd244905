import pytest
from django.urls import reverse

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from tests.factories import (
    CampaignFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TrackingUrlFactory,
)
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def click_url(item_id: int, url_id: int) -> str:
    return reverse("tracking:click", args=[tokens.make(tokens.CLICK, item_id, url_id)])


@pytest.fixture
def item():
    return SentQueueItemFactory()


@pytest.fixture
def link(item):
    return TrackingUrlFactory(
        campaign=item.mass_email.campaign, url="https://example.org/offer?a=1"
    )


def log(item, action):
    return CampaignLogRecord.objects.filter(queue_item=item, action=action)


def test_it_redirects_to_the_stored_address_and_logs_clicked_and_opened(client, item, link):
    response = client.get(click_url(item.pk, link.pk), HTTP_USER_AGENT=BROWSER)

    assert response.status_code == 302
    assert response["Location"] == "https://example.org/offer?a=1"
    clicked = log(item, "clicked").get()
    assert clicked.tracking_url == link
    assert clicked.contact == item.contact
    assert log(item, "opened").count() == 1


def test_it_logs_one_clicked_per_link_however_often_clicked(client, item, link):
    other = TrackingUrlFactory(campaign=item.mass_email.campaign)

    for _ in range(3):
        client.get(click_url(item.pk, link.pk), HTTP_USER_AGENT=BROWSER)
    client.get(click_url(item.pk, other.pk), HTTP_USER_AGENT=BROWSER)

    assert log(item, "clicked").count() == 2
    assert log(item, "opened").count() == 1
    assert TrackingHit.objects.filter(kind="click").count() == 4


def test_it_keeps_an_earlier_open(client, item, link):
    client.get(reverse("tracking:open", args=[tokens.make(tokens.OPEN, item.pk)]))

    client.get(click_url(item.pk, link.pk), HTTP_USER_AGENT=BROWSER)

    assert log(item, "opened").count() == 1


def test_it_redirects_but_records_nothing_for_head(client, item, link):
    response = client.head(click_url(item.pk, link.pk))

    assert response.status_code == 302
    assert not CampaignLogRecord.objects.exists()
    assert not TrackingHit.objects.exists()


@pytest.mark.parametrize("mangle", ["signature", "item", "garbage", "kind"])
def test_it_answers_a_clear_404_and_records_nothing_for_a_bad_token(client, item, link, mangle):
    token = tokens.make(tokens.CLICK, item.pk, link.pk)
    payload, mac = token.split(".")
    bad = {
        "signature": f"{payload}.{mac[::-1]}",
        "item": f"{tokens.make(tokens.CLICK, item.pk + 1, link.pk).split('.')[0]}.{mac}",
        "garbage": "not-a-token",
        "kind": tokens.make(tokens.OPEN, item.pk, link.pk),
    }[mangle]

    response = client.get(reverse("tracking:click", args=[bad]))

    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()
    assert not CampaignLogRecord.objects.exists()


def test_it_refuses_another_campaigns_tracking_url(client, item):
    foreign = TrackingUrlFactory(campaign=CampaignFactory(), url="https://evil.example.net/")

    response = client.get(click_url(item.pk, foreign.pk))

    assert response.status_code == 404
    assert not CampaignLogRecord.objects.exists()


def test_it_refuses_a_token_of_one_item_with_anothers_tracking_url(client, item, link):
    other_item = SentQueueItemFactory(mass_email=MassEmailFactory(campaign=CampaignFactory()))
    other_link = TrackingUrlFactory(campaign=other_item.mass_email.campaign)
    mine = tokens.make(tokens.CLICK, item.pk, link.pk)
    theirs = tokens.make(tokens.CLICK, item.pk, other_link.pk)

    swapped = f"{theirs.split('.')[0]}.{mine.split('.')[1]}"
    assert client.get(reverse("tracking:click", args=[swapped])).status_code == 404
    assert client.get(reverse("tracking:click", args=[theirs])).status_code == 404
    assert not CampaignLogRecord.objects.exists()


@pytest.mark.parametrize(
    "query", ["?next=https://evil.example.net/", "?url=//evil.example.net", "?to=evil"]
)
def test_it_ignores_parameters_that_try_to_redirect_elsewhere(client, item, link, query):
    response = client.get(click_url(item.pk, link.pk) + query)

    assert response.status_code == 302
    assert response["Location"] == link.url


def test_it_refuses_a_stored_address_that_is_not_http(client, item):
    stored = TrackingUrlFactory(campaign=item.mass_email.campaign, url="javascript:alert(1)")

    response = client.get(click_url(item.pk, stored.pk))

    assert response.status_code == 404


def test_it_shows_a_message_escaped(client, item):
    shown = TrackingUrlFactory(
        campaign=item.mass_email.campaign,
        action="show_message",
        url="",
        name="<b>name</b>",
        message='Thanks!\n<script>alert("x")</script><img src=x onerror=alert(1)>',
    )

    response = client.get(click_url(item.pk, shown.pk), HTTP_USER_AGENT=BROWSER)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Thanks!" in body
    assert "<script>alert" not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;" in body
    assert "<b>name</b>" not in body
    assert log(item, "clicked").get().tracking_url == shown


def test_it_answers_no_content_for_the_hidden_link_and_logs_no_click(client, item):
    response = client.get(click_url(item.pk, 0), HTTP_USER_AGENT=BROWSER)

    assert response.status_code == 204
    assert not CampaignLogRecord.objects.exists()
    assert TrackingHit.objects.get().kind == "trap"
