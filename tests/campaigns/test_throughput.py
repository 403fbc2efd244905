"""The rate sending reaches, per source and per mass email, on the job runs page and the mass
email page (campaigns.sending.throughput)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import MassEmail
from campaigns.sending import throughput
from crm.models import EmailAccount, OutboundEmailSettings
from tests.factories import MassEmailFactory, PendingQueueItemFactory, SentQueueItemFactory

pytestmark = pytest.mark.django_db


def sent(mass_email: MassEmail, count: int, seconds_ago: int) -> None:
    when = timezone.now() - timedelta(seconds=seconds_ago)
    SentQueueItemFactory.create_batch(count, mass_email=mass_email, sent_at=when)


def test_it_counts_each_sources_messages_of_the_last_minute():
    account = EmailAccount.objects.create(
        name="Relay", email_address="news@example.com", use_smtp=True, messages_per_second=14
    )
    system = MassEmailFactory(status=MassEmail.Status.IN_PROCESS)
    relayed = MassEmailFactory(status=MassEmail.Status.IN_PROCESS, smtp_account=account)
    sent(system, 30, seconds_ago=10)
    sent(system, 50, seconds_ago=90)  # before the last minute
    sent(relayed, 120, seconds_ago=20)

    rates = throughput.source_rates()

    assert [(rate.name, rate.per_second) for rate in rates] == [
        (str(account), 2.0),
        (str(OutboundEmailSettings.load()), 0.5),
    ]
    assert rates[0].limit == 14 and rates[1].limit is None
    assert throughput.mass_email_rate(relayed) == 2.0


def test_it_expects_the_rest_at_the_rate_reached():
    now = timezone.now()

    assert throughput.finish_at_rate(600, 2.0, now) == now + timedelta(minutes=5)
    assert throughput.finish_at_rate(600, 0.0, now) is None
    assert throughput.finish_at_rate(0, 2.0, now) is None


def test_the_job_runs_page_shows_the_rate_of_each_source(admin_client):
    sent(MassEmailFactory(status=MassEmail.Status.IN_PROCESS), 90, seconds_ago=5)

    page = admin_client.get("/admin/crm/jobrun/").content.decode()

    assert 'id="sending-now"' in page and '<td class="source-rate">1.5</td>' in page


def test_the_job_runs_page_says_when_nothing_was_sent(admin_client):
    page = admin_client.get("/admin/crm/jobrun/").content.decode()

    assert "Nothing was sent in the last minute." in page


def test_the_mass_email_page_shows_its_rate_and_when_the_rest_goes_out_at_it(admin_client):
    mass_email = MassEmailFactory(status=MassEmail.Status.IN_PROCESS)
    sent(mass_email, 120, seconds_ago=15)
    PendingQueueItemFactory.create_batch(3, mass_email=mass_email)

    page = admin_client.get(f"/admin/campaigns/massemail/{mass_email.pk}/change/")

    content = page.content.decode()
    assert '<td id="sending-rate">2.0 messages a second</td>' in content
    assert 'id="rate-finish"' in content
