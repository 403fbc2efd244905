"""The mass email page's notice of blocked messages
(campaigns.results.statistics.blocked_bursts)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CampaignLogRecord
from campaigns.results.statistics import blocked_bursts
from tests.factories import ContactFactory, EmailAddressFactory, SentQueueItemFactory

pytestmark = pytest.mark.django_db
LISTED = "smtp; 550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent: listed on S3150"


def blocked(mass_email, address: str, detail: str = LISTED, hours_ago: float = 1.0, **fields):
    contact = ContactFactory(email_address=EmailAddressFactory(address=address))
    item = SentQueueItemFactory(mass_email=mass_email, contact=contact, **fields)
    record = CampaignLogRecord.objects.create(
        campaign_id=mass_email.campaign_id,
        action="bounced",
        bounce_type="blocked",
        bounce_detail=detail,
        queue_item=item,
        email_address=item.email_address,
        email=address,
        is_test=item.is_test,
        contact=contact,
    )
    at = timezone.now() - timedelta(hours=hours_ago)
    CampaignLogRecord.objects.filter(pk=record.pk).update(action_date=at)
    return item


def test_it_groups_recent_blocked_bounces_by_domain_most_first():
    mass_email = SentQueueItemFactory().mass_email
    for n in range(3):
        blocked(mass_email, f"a{n}@outlook.com", hours_ago=3 - n)
    blocked(mass_email, "b@gmail.com", detail="5.7.26 DMARC policy")
    blocked(mass_email, "old@yahoo.com", hours_ago=30)
    blocked(mass_email, "t@aol.com", is_test=True)

    bursts = blocked_bursts(mass_email)

    assert [(b.domain, b.count) for b in bursts] == [("outlook.com", 3), ("gmail.com", 1)]
    assert bursts[0].detail == LISTED
    assert timezone.now() - bursts[0].since > timedelta(hours=2, minutes=59)


def test_the_mass_email_page_shows_the_notice(admin_client):
    mass_email = SentQueueItemFactory().mass_email
    for n in range(2):
        blocked(mass_email, f"a{n}@outlook.com")

    page = admin_client.get(reverse("admin:campaigns_massemail_change", args=[mass_email.pk]))

    html = page.content.decode()
    assert 'id="blocked-notice"' in html
    assert "2 messages blocked by outlook.com since" in html
    assert "listed on S3150" in html


def test_no_notice_without_blocked_bounces(admin_client):
    mass_email = SentQueueItemFactory().mass_email

    page = admin_client.get(reverse("admin:campaigns_massemail_change", args=[mass_email.pk]))

    assert page.status_code == 200
    assert 'id="blocked-notice"' not in page.content.decode()
