"""An A/B test in real Celery workers: a worker killed while sending the winner to the held
recipients loses nobody, and nobody gets a second variant. PostgreSQL only, like the other
SIGKILL scenarios."""

import pytest

from campaigns.models import EmailQueueItem, MassEmail, MassEmailVariant
from campaigns.sending.portion import IN_FLIGHT, chunk_size
from campaigns.tasks import send_mass_emails
from tests.integration.test_worker import (
    expire_claims,
    forget_unacked_messages,
    item_states,
    needs_postgresql,
    pending_mass_email,
    run_job,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = EmailQueueItem.Status


@needs_postgresql
def test_a_worker_killed_while_sending_the_winner_loses_nobody(workers, smtp_server):
    workers.stop_all()
    workers.start("first")
    mass_email, addresses = pending_mass_email(2000)
    MassEmail.objects.filter(pk=mass_email.pk).update(
        test_share=20, test_wait_hours=0, test_min_sample=10_000, test_fallback="first"
    )
    for letter in "AB":
        MassEmailVariant.objects.create(
            mass_email=mass_email, letter=letter, subject=f"Subject {letter}"
        )
    run_job()  # builds the queue and sends the test share only
    tested = mass_email.queue_items.filter(in_test=True).count()
    assert smtp_server.total == tested
    assert item_states(mass_email)[Status.HELD] == len(addresses) - tested
    workers.stop_all()
    victim = workers.start("victim")

    send_mass_emails.delay()  # decides (too few for a winner: A, as chosen) and sends the rest
    wait_until(lambda: smtp_server.total >= tested + 800, "half the held mail to arrive")
    victim.kill()
    forget_unacked_messages()
    left_sending = mass_email.queue_items.filter(status=Status.SENDING).count()
    expire_claims(mass_email)
    workers.start("rescuer")
    run_job(left_running=1)

    mass_email.refresh_from_db()
    assert (mass_email.test_state, mass_email.test_winner.letter) == ("decided", "A")
    assert item_states(mass_email) == {Status.SENT: len(addresses)}
    assert all(smtp_server.received[address] >= 1 for address in addresses)
    duplicates = smtp_server.total - len(addresses)
    assert 0 <= duplicates <= min(left_sending, IN_FLIGHT * chunk_size(10))
    items = mass_email.queue_items.select_related("email_address", "variant")
    for item in items:  # a retried message is the same variant: nobody gets both
        subjects = {m["Subject"] for m in smtp_server.messages_to(item.email_address.address)}
        assert subjects == {f"Subject {item.variant.letter}"}
    print(f"A/B SIGKILL: {left_sending} left Sending, {duplicates} duplicates")
