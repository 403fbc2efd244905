"""Test send against a real SMTP server (aiosmtpd in-process)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.authoring.trial_send import TestSendError, send_test
from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmail, MassEmailSettings
from campaigns.sending import claims
from campaigns.sending.job import run_send_job
from tests.factories import (
    ContactFactory,
    EmailTemplateFactory,
    LeadFactory,
    MassEmailFactory,
    PendingQueueItemFactory,
    UserFactory,
)
from tests.integration.smtp_server import SmtpServer, configure_system_smtp, free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    configure_system_smtp(server.port)
    yield server
    server.stop()


def test_it_sends_to_picked_people_and_typed_addresses(smtp_server):
    mass_email = MassEmailFactory(status=MassEmail.Status.DRAFT)
    contact, lead, user = ContactFactory(), LeadFactory(), UserFactory(email="Me@Example.com")

    results = send_test(mass_email, people=[contact, lead, user], addresses=["typed@example.org"])

    assert [result.sent for result in results] == [True] * 4
    assert [result.recipient for result in results] == [
        contact.email,
        lead.email,
        "Me@Example.com",
        "typed@example.org",
    ]
    for address in (contact.email, lead.email, "me@example.com", "typed@example.org"):
        assert smtp_server.received[address.lower()] == 1
    items = EmailQueueItem.objects.filter(mass_email=mass_email)
    assert set(items.values_list("is_test", "status")) == {(True, EmailQueueItem.Status.SENT)}
    log = CampaignLogRecord.objects.filter(campaign=mass_email.campaign, action="sent")
    assert log.count() == 4 and not log.filter(is_test=False).exists()


def test_it_renders_for_the_picked_person(smtp_server):
    template = EmailTemplateFactory(subject="Hello {Person.firstName}")
    mass_email = MassEmailFactory(email_template=template, status=MassEmail.Status.PENDING)
    contact = ContactFactory(first_name="Zoe")

    send_test(mass_email, people=[contact])

    (message,) = smtp_server.messages_to(contact.email)
    assert message["Subject"] == "Hello Zoe"


def test_it_leaves_status_window_and_queue_alone(smtp_server):
    limits = MassEmailSettings.load()
    limits.max_per_hour = 1
    limits.save()
    PendingQueueItemFactory(status="sent", sent_at=timezone.now() - timedelta(minutes=5))
    mass_email = MassEmailFactory(status=MassEmail.Status.PENDING)

    results = send_test(mass_email, addresses=["a@example.org", "b@example.org"])

    assert all(result.sent for result in results)  # the hourly window was already full
    assert claims.sent_in_window(timezone.now()) == 1
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.PENDING
    run_send_job()
    assert smtp_server.total == 2  # the job never picks test items up


def test_it_reports_a_rejected_address_in_the_servers_words(smtp_server):
    smtp_server.refuse("nobody@example.org", "550 5.1.1 No such user here")
    mass_email = MassEmailFactory()

    bad, good = send_test(mass_email, addresses=["nobody@example.org", "fine@example.org"])

    assert not bad.sent and "550" in bad.error and "No such user here" in bad.error
    assert good.sent
    assert not CampaignLogRecord.objects.filter(action="bounced").exists()


def test_it_reports_a_server_that_is_down():
    configure_system_smtp(free_port())
    mass_email = MassEmailFactory()

    (result,) = send_test(mass_email, addresses=["someone@example.org"])

    assert not result.sent and "refused" in result.error
    item = EmailQueueItem.objects.get(mass_email=mass_email)
    assert item.status == EmailQueueItem.Status.FAILED and item.is_test


def test_it_reports_people_without_an_address(smtp_server):
    contact = ContactFactory(email_address=None)

    (result,) = send_test(MassEmailFactory(), people=[contact])

    assert not result.sent and "no email address" in result.error


def test_it_sends_tests_only_from_draft_or_pending():
    with pytest.raises(TestSendError, match="Draft or Pending"):
        send_test(MassEmailFactory(status=MassEmail.Status.IN_PROCESS), addresses=["a@example.org"])


def test_it_needs_a_recipient():
    with pytest.raises(TestSendError, match="at least one"):
        send_test(MassEmailFactory())


def test_it_explains_a_template_that_cannot_be_rendered(smtp_server):
    mass_email = MassEmailFactory(
        email_template=EmailTemplateFactory(body_html="{trackingUrl:7777}")
    )

    with pytest.raises(TestSendError, match="7777"):
        send_test(mass_email, addresses=["a@example.org"])

    assert smtp_server.total == 0
    assert EmailQueueItem.objects.get(mass_email=mass_email).status == EmailQueueItem.Status.FAILED
