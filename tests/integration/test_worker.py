"""The sending job in real Celery workers, against a real SMTP server that counts what it gets.

Multi-worker and SIGKILL scenarios need PostgreSQL (SKIP LOCKED, many connections writing at
once) and a networked broker; on SQLite the product runs one worker, and they are skipped.
"""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings
from campaigns.sending.claims import LEASE
from campaigns.sending.portion import CHUNK_SIZE
from campaigns.tasks import send_mass_emails
from crm.models import Contact, EmailAddress, JobRun
from targetlists.models import TargetList, TargetListEntry
from tests.factories import CampaignFactory, MassEmailFactory
from tests.integration.conftest import forget_unacked_messages, on_postgresql
from tests.integration.smtp_server import configure_system_smtp, free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
needs_postgresql = pytest.mark.skipif(
    not on_postgresql(),
    reason="several workers at once and SIGKILL recovery need PostgreSQL (SQLite runs one worker)",
)
WAIT = 90  # seconds: a generous deadline for a run to finish, never a timing assertion
Status = EmailQueueItem.Status


def pending_mass_email(recipients: int) -> tuple[MassEmail, list[str]]:
    """A Pending mass email to `recipients` new contacts, due now; the hourly limit is high."""
    limits = MassEmailSettings.load()
    limits.max_per_hour, limits.max_per_batch = 1_000_000, None
    limits.save()
    target_list = TargetList.objects.create(name="Everyone")
    addresses = EmailAddress.objects.bulk_create(
        EmailAddress(address=f"reader{n}@example.org", address_lower=f"reader{n}@example.org")
        for n in range(recipients)
    )
    contacts = Contact.objects.bulk_create(
        Contact(first_name=f"Reader{n}", last_name="Doe", email_address=address)
        for n, address in enumerate(addresses)
    )
    TargetListEntry.objects.bulk_create(
        TargetListEntry(target_list=target_list, contact=contact) for contact in contacts
    )
    mass_email = MassEmailFactory(campaign=CampaignFactory(), status=MassEmail.Status.PENDING)
    mass_email.target_lists.add(target_list)
    return mass_email, [address.address_lower for address in addresses]


def run_job(times: int = 1) -> None:
    """Queue the beat task `times` at once, and wait until that many runs are logged finished."""
    already = finished_runs()
    for _ in range(times):
        send_mass_emails.delay()
    wait_until(lambda: finished_runs() >= already + times, "job runs to finish")


def finished_runs() -> int:
    return JobRun.objects.filter(job="Send Mass Emails").exclude(status="running").count()


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} after {WAIT}s")
        time.sleep(0.05)


def item_states(mass_email: MassEmail) -> Counter:
    return Counter(mass_email.queue_items.values_list("status", flat=True))


def test_it_sends_a_mass_email_end_to_end(worker, smtp_server):
    mass_email, addresses = pending_mass_email(50)

    run_job()

    assert {address: smtp_server.received[address] for address in addresses} == dict.fromkeys(
        addresses, 1
    )
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE
    assert item_states(mass_email) == {Status.SENT: 50}
    run = JobRun.objects.get(job="Send Mass Emails")
    assert run.status == JobRun.Status.SUCCESS and "50 sent" in run.summary


def test_it_fails_only_the_recipients_a_server_rejects_with_550(worker, smtp_server):
    mass_email, addresses = pending_mass_email(20)
    for address in addresses[:3]:
        smtp_server.refuse(address, "550 5.1.1 Mailbox does not exist")

    run_job()

    rejected = mass_email.queue_items.filter(status=Status.FAILED)
    assert sorted(rejected.values_list("email_address__address_lower", flat=True)) == sorted(
        addresses[:3]
    )
    assert all("Mailbox does not exist" in item.last_error for item in rejected)
    assert all(smtp_server.received[address] == 1 for address in addresses[3:])
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE


def test_it_waits_out_a_421_and_sends_when_the_server_recovers(worker, smtp_server):
    mass_email, addresses = pending_mass_email(20)
    smtp_server.answer_closing()

    run_job()
    assert smtp_server.total == 0
    assert set(mass_email.queue_items.values_list("status", "attempts")) == {(Status.PENDING, 0)}

    smtp_server.recover()
    run_job()

    assert all(smtp_server.received[address] == 1 for address in addresses)
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE


def test_it_keeps_everything_pending_while_the_server_is_down(worker, transactional_db):
    configure_system_smtp(free_port())
    mass_email, _addresses = pending_mass_email(20)

    run_job()

    assert set(mass_email.queue_items.values_list("status", "attempts")) == {(Status.PENDING, 0)}
    run = JobRun.objects.get(job="Send Mass Emails")
    assert run.status == JobRun.Status.SUCCESS and "refused" in run.summary
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.IN_PROCESS


@needs_postgresql
def test_two_workers_and_overlapping_runs_send_each_recipient_exactly_once(
    worker, workers, smtp_server
):
    workers.ensure("second")
    mass_email, addresses = pending_mass_email(3000)

    run_job(times=2)

    assert smtp_server.total == len(addresses)
    assert {address: smtp_server.received[address] for address in addresses} == dict.fromkeys(
        addresses, 1
    )
    # Both runs delivered mail, each over its own SMTP session: they really overlapped.
    assert len(smtp_server.handler.sessions_with_mail) == 2
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE


@needs_postgresql
def test_a_worker_killed_halfway_loses_nobody_and_duplicates_at_most_one_chunk(
    workers, smtp_server
):
    workers.stop_all()  # only the victim may take the first run
    victim = workers.start("victim")
    mass_email, addresses = pending_mass_email(2000)

    send_mass_emails.delay()
    wait_until(lambda: smtp_server.total >= len(addresses) // 2, "half the mail to arrive")
    victim.kill()
    forget_unacked_messages()
    assert smtp_server.total < len(addresses)  # killed mid-way, not after the end
    left_sending = mass_email.queue_items.filter(status=Status.SENDING).count()
    # The chunk being sent, and the next one claimed and rendered but not handed over yet.
    assert left_sending <= 2 * CHUNK_SIZE
    # Time passes beyond the lease; the next run resolves the dead worker's claims.
    mass_email.queue_items.filter(status=Status.SENDING).update(
        claimed_at=timezone.now() - LEASE - timedelta(minutes=1)
    )
    workers.start("rescuer")
    run_job()

    assert all(smtp_server.received[address] >= 1 for address in addresses)
    duplicates = smtp_server.total - len(addresses)
    print(f"SIGKILL halfway: {left_sending} items left Sending, {duplicates} duplicates")
    assert 0 <= duplicates <= min(left_sending, CHUNK_SIZE)
    assert item_states(mass_email) == {Status.SENT: len(addresses)}
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE
