"""The confirmation email's Celery task against a real SMTP server (aiosmtpd): it sends once,
records failures, and tries again only when the failure is temporary."""

from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.conf import settings
from django.utils import timezone

from crm.smtp import SmtpFailure
from people.models import SignupConfirmation
from people.signup import CLAIM_LEASE
from people.tasks import send_confirmation
from tests.factories import SignupConfirmationFactory
from tests.integration.smtp_server import configure_system_smtp, free_port

pytestmark = pytest.mark.django_db


def deliver(confirmation: SignupConfirmation, retries: int = 0):
    """Run the task as a worker runs delivery number `retries` + 1 of its message, except that
    a retry raises celery's Retry (with its countdown) instead of queueing the message again."""
    send_confirmation.push_request(
        called_directly=False, is_eager=True, retries=retries, args=[confirmation.pk], kwargs={}
    )
    try:
        return send_confirmation.run(confirmation.pk)
    finally:
        send_confirmation.pop_request()


def test_it_sends_the_confirmation_email_with_its_link(smtp_server, mass_settings):
    confirmation = SignupConfirmationFactory()

    assert deliver(confirmation) == f"signup {confirmation.pk}: sent"

    (message,) = smtp_server.messages_to(confirmation.email_address.address)
    assert "/f/confirm/" in message.get_payload(decode=True).decode()
    confirmation.refresh_from_db()
    assert confirmation.email_sent_at and not confirmation.email_error
    assert confirmation.email_claimed_at is None


def test_it_sends_nothing_when_the_task_is_delivered_twice(smtp_server, mass_settings):
    confirmation = SignupConfirmationFactory()
    deliver(confirmation)
    sent_at = SignupConfirmation.objects.get().email_sent_at

    assert deliver(confirmation) == f"signup {confirmation.pk}: not sent"

    assert smtp_server.total == 1
    assert SignupConfirmation.objects.get().email_sent_at == sent_at


def test_it_leaves_an_email_another_worker_is_sending_until_its_claim_is_stale(
    smtp_server, mass_settings
):
    confirmation = SignupConfirmationFactory(email_claimed_at=timezone.now())
    deliver(confirmation)
    assert smtp_server.total == 0

    stale = timezone.now() - CLAIM_LEASE - timedelta(seconds=1)
    SignupConfirmation.objects.update(email_claimed_at=stale)  # that worker died mid-send
    deliver(confirmation)
    assert smtp_server.total == 1


def test_it_sends_nothing_for_a_signup_confirmed_meanwhile(smtp_server, mass_settings):
    confirmation = SignupConfirmationFactory(confirmed_at=timezone.now())
    deliver(confirmation)
    assert smtp_server.total == 0


def test_it_records_a_down_server_and_tries_again_later_doubling_the_wait(mass_settings):
    configure_system_smtp(free_port())  # nobody listens there
    confirmation = SignupConfirmationFactory()

    with pytest.raises(Retry) as first:
        deliver(confirmation)
    with pytest.raises(Retry) as third:
        deliver(confirmation, retries=2)

    first_wait = settings.SIGNUP_CONFIRMATION_RETRY_SECONDS
    assert (first.value.when, third.value.when) == (first_wait, first_wait * 4)
    confirmation.refresh_from_db()
    assert "Connection refused" in confirmation.email_error and not confirmation.email_sent_at
    assert confirmation.email_claimed_at is None  # the next attempt may claim it


def test_it_tries_a_4xx_answer_again_and_sends_once_the_server_accepts(smtp_server, mass_settings):
    confirmation = SignupConfirmationFactory()
    address = confirmation.email_address.address
    smtp_server.script(address, "451 4.3.0 Mailbox busy, try later")

    with pytest.raises(Retry):
        deliver(confirmation)
    assert "451" in SignupConfirmation.objects.get().email_error

    deliver(confirmation, retries=1)
    confirmation.refresh_from_db()
    assert confirmation.email_sent_at and not confirmation.email_error
    assert len(smtp_server.messages_to(address)) == 1


def test_it_gives_up_after_the_last_retry_keeping_the_error(mass_settings):
    configure_system_smtp(free_port())
    confirmation = SignupConfirmationFactory()

    with pytest.raises(SmtpFailure, match="Connection refused"):
        deliver(confirmation, retries=settings.SIGNUP_CONFIRMATION_RETRIES)

    assert "Connection refused" in SignupConfirmation.objects.get().email_error


def test_it_records_a_refused_recipient_and_does_not_try_again(smtp_server, mass_settings):
    confirmation = SignupConfirmationFactory()
    smtp_server.refuse(confirmation.email_address.address, "550 5.1.1 No such user")

    assert deliver(confirmation) == f"signup {confirmation.pk}: not sent"  # no Retry raised

    confirmation.refresh_from_db()
    assert "550 5.1.1 No such user" in confirmation.email_error
    assert not confirmation.email_sent_at and smtp_server.total == 0
