import pytest
from django.urls import reverse

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from tests.factories import SentQueueItemFactory
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def pixel_url(item_id: int) -> str:
    return reverse("tracking:open", args=[tokens.make(tokens.OPEN, item_id)])


def opens(item):
    return CampaignLogRecord.objects.filter(queue_item=item, action="opened")


def assert_pixel(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert "no-store" in response["Cache-Control"]


def test_it_records_one_opened_per_item_and_answers_a_gif(client):
    item = SentQueueItemFactory()

    response = client.get(pixel_url(item.pk), HTTP_USER_AGENT=BROWSER)

    assert_pixel(response)
    record = opens(item).get()
    assert record.campaign == item.mass_email.campaign
    assert record.contact == item.contact
    assert record.email_address == item.email_address
    assert record.email == item.email
    assert record.is_test is False


def test_it_counts_repeated_hits_but_logs_opened_once(client):
    item = SentQueueItemFactory()

    for _ in range(3):
        assert_pixel(client.get(pixel_url(item.pk), HTTP_USER_AGENT=BROWSER))

    assert opens(item).count() == 1
    assert TrackingHit.objects.filter(queue_item=item, kind="open").count() == 3


def test_it_records_nothing_for_head(client):
    item = SentQueueItemFactory()

    response = client.head(pixel_url(item.pk))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert not opens(item).exists()
    assert not TrackingHit.objects.exists()


def test_it_answers_a_gif_and_records_nothing_for_a_forged_token(client):
    item = SentQueueItemFactory()
    good = tokens.make(tokens.OPEN, item.pk)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")

    for token in (forged, "garbage", tokens.make(tokens.CLICK, item.pk)):
        assert_pixel(client.get(reverse("tracking:open", args=[token])))

    assert not CampaignLogRecord.objects.exists()
    assert not TrackingHit.objects.exists()


def test_it_refuses_an_altered_item_id(client):
    item = SentQueueItemFactory()
    other = SentQueueItemFactory()
    token = tokens.make(tokens.OPEN, item.pk)
    altered = tokens.make(tokens.OPEN, other.pk).split(".")[0] + "." + token.split(".")[1]

    assert_pixel(client.get(reverse("tracking:open", args=[altered])))

    assert not CampaignLogRecord.objects.exists()


def test_it_answers_a_gif_for_an_item_that_does_not_exist(client):
    assert_pixel(client.get(pixel_url(987654)))

    assert not CampaignLogRecord.objects.exists()


def test_it_records_nothing_for_an_item_not_sent(client):
    item = SentQueueItemFactory(status="pending", sent_at=None)

    assert_pixel(client.get(pixel_url(item.pk)))

    assert not opens(item).exists()


def test_it_copies_the_test_flag(client):
    item = SentQueueItemFactory(is_test=True)

    client.get(pixel_url(item.pk), HTTP_USER_AGENT=BROWSER)

    assert opens(item).get().is_test is True
    assert TrackingHit.objects.get().is_test is True


def test_it_stores_the_user_agent_and_a_hash_of_the_client_not_its_address(client):
    item = SentQueueItemFactory()

    client.get(pixel_url(item.pk), HTTP_USER_AGENT=BROWSER, REMOTE_ADDR="203.0.113.7")

    hit = TrackingHit.objects.get()
    assert hit.user_agent == BROWSER
    assert len(hit.client_hash) == 32
    assert "203.0.113.7" not in hit.client_hash


def test_it_refuses_post(client):
    item = SentQueueItemFactory()

    response = client.post(pixel_url(item.pk))

    assert response.status_code == 405
    assert not opens(item).exists()
