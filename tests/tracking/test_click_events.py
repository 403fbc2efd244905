"""email.clicked in the stream: the first click of each link, and the first person's click of
it when a scanner clicked first (once), whichever way the clicks are recorded."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from crm import events
from crm.models import Event
from tests.factories import SentQueueItemFactory, TrackingUrlFactory
from tracking import recording
from tracking.recording import Visit

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel)"


@pytest.fixture
def item():
    return SentQueueItemFactory()


@pytest.fixture
def link(item):
    return TrackingUrlFactory(campaign=item.mass_email.campaign, url="https://example.org/a")


def click(client, item, link, agent: str) -> None:
    url = reverse("tracking:click", args=[tokens.make(tokens.CLICK, item.pk, link.pk)])
    assert client.get(url, HTTP_USER_AGENT=agent).status_code == 302


def clicked() -> list[tuple[bool, int]]:
    found = Event.objects.filter(type=events.EMAIL_CLICKED).order_by("tx", "id")
    return [(event.data["human"], event.data["tracking_url_id"]) for event in found]


def test_a_persons_click_after_a_scanners_is_told_of_once(client, item, link):
    click(client, item, link, SCANNER)
    click(client, item, link, BROWSER)
    click(client, item, link, BROWSER)
    click(client, item, link, SCANNER)

    assert clicked() == [(False, link.pk), (True, link.pk)]
    person = Event.objects.filter(type=events.EMAIL_CLICKED).last()
    assert (person.person_type, person.person_id) == ("contact", item.contact_id)
    assert person.data["url"] == "https://example.org/a"
    record = CampaignLogRecord.objects.get(queue_item=item, action="clicked")
    assert record.person_clicked


def test_a_persons_first_click_is_told_of_once_and_a_scanners_after_it_not(client, item, link):
    click(client, item, link, BROWSER)
    click(client, item, link, SCANNER)
    click(client, item, link, BROWSER)

    assert clicked() == [(True, link.pk)]


def test_a_scanner_alone_leaves_the_clicked_record_unmarked(client, item, link):
    click(client, item, link, SCANNER)
    click(client, item, link, SCANNER)

    assert clicked() == [(False, link.pk)]
    assert not CampaignLogRecord.objects.get(queue_item=item, action="clicked").person_clicked


def test_a_buffered_batch_tells_of_a_persons_click_after_a_scanners(item, link):
    other = TrackingUrlFactory(campaign=item.mass_email.campaign)
    now = timezone.now()
    recording.record_batch([("click", item.pk, link.pk, Visit(user_agent=SCANNER, at=now))])
    later = now + timedelta(minutes=5)  # minutes apart: no burst of links
    then = later + timedelta(minutes=10)
    recording.record_batch(
        [
            ("click", item.pk, link.pk, Visit(user_agent=BROWSER, at=later)),
            ("click", item.pk, link.pk, Visit(user_agent=BROWSER, at=later)),
            ("click", item.pk, other.pk, Visit(user_agent=SCANNER, at=then)),
            ("click", item.pk, other.pk, Visit(user_agent=BROWSER, at=then + timedelta(minutes=5))),
        ]
    )
    recording.record_batch([("click", item.pk, other.pk, Visit(user_agent=BROWSER, at=later))])

    assert clicked() == [(False, link.pk), (True, link.pk), (False, other.pk), (True, other.pk)]
