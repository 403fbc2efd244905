"""A send step goes out through the send job to a real SMTP server (aiosmtpd), with the
campaign's log, and never waits behind a large mass email for more than one run."""

import pytest

from automation import engine
from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmail
from campaigns.sending.job import run_send_job
from tests.automation.helpers import T0, automation, join, send
from tests.factories import (
    ContactFactory,
    EmailTemplateFactory,
    MassEmailFactory,
    PendingQueueItemFactory,
)

pytestmark = pytest.mark.django_db


def test_a_welcome_email_goes_out_through_the_send_job_and_lands_in_the_campaign_log(
    smtp_server, limits, mass_settings
):
    template = EmailTemplateFactory(subject="Welcome, {Person.firstName}")
    made = automation(send(template))
    ann = ContactFactory(first_name="Ann")
    join(made.trigger_list, ann)
    engine.tick(T0)

    report = run_send_job()

    assert report.sent == 1
    (message,) = smtp_server.messages_to(ann.email)
    assert message["Subject"] == "Welcome, Ann"
    log = CampaignLogRecord.objects.get(campaign=made.campaign, action="sent")
    assert log.contact_id == ann.pk
    mailing = MassEmail.objects.get(campaign=made.campaign, automated=True)
    assert mailing.status == MassEmail.Status.IN_PROCESS  # it takes the next people too

    bob = ContactFactory()
    join(made.trigger_list, bob)
    engine.tick(T0)
    run_send_job()
    assert smtp_server.received[bob.email_address.address_lower] == 1
    assert smtp_server.received[ann.email_address.address_lower] == 1


def test_an_automation_email_goes_before_a_large_mass_email(smtp_server, limits, mass_settings):
    limits.max_per_batch = 2
    limits.save()
    big = MassEmailFactory(status=MassEmail.Status.IN_PROCESS)
    PendingQueueItemFactory.create_batch(5, mass_email=big)
    made = automation(send())
    ann = ContactFactory()
    join(made.trigger_list, ann)
    engine.tick(T0)

    run_send_job()

    assert smtp_server.received[ann.email_address.address_lower] == 1
    assert big.queue_items.filter(status=EmailQueueItem.Status.SENT).count() == 1


def test_an_opted_out_address_is_not_sent_to(smtp_server, limits, mass_settings):
    made = automation(send())
    ann = ContactFactory()
    ann.email_address.opt_out = True
    ann.email_address.save()
    join(made.trigger_list, ann)
    engine.tick(T0)

    run_send_job()

    assert smtp_server.total == 0
