"""The sending job in real Celery workers, against a real SMTP server that counts what it gets.

Multi-worker and SIGKILL scenarios need PostgreSQL (SKIP LOCKED, many connections writing at
once) and a networked broker; on SQLite the product runs one worker, and they are skipped.
"""

import re
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings
from campaigns.sending.claims import LEASE
from campaigns.sending.portion import IN_FLIGHT, chunk_size
from campaigns.tasks import send_mass_emails
from crm.jobs import SEND_MASS_EMAILS, SEND_MASS_EMAILS_HELPING
from crm.models import Contact, EmailAddress, JobRun, OutboundEmailSettings
from targetlists.models import TargetList, TargetListEntry
from tests.campaigns.test_rate import most_in_one_second
from tests.factories import CampaignFactory, MassEmailFactory
from tests.integration.conftest import forget_unacked_messages, on_postgresql
from tests.integration.smtp_server import configure_system_smtp, free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
needs_postgresql = pytest.mark.skipif(
    not on_postgresql(),
    reason="several workers at once and SIGKILL recovery need PostgreSQL (SQLite runs one worker)",
)
WAIT = 240  # seconds: a generous deadline for a run to finish, never a timing assertion
# The list of the four-worker tests (the soak sends 20,000 the same way, once, in CI).
RECIPIENTS_FOR_FOUR = 4000
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


def run_job(times: int = 1, left_running: int = 0) -> None:
    """Queue the beat task `times` at once, and wait until that many runs are logged finished,
    and every worker they asked to help too (but `left_running`, e.g. a killed one's)."""
    already = finished_runs()
    for _ in range(times):
        send_mass_emails.delay()
    wait_until(lambda: finished_runs() >= already + times, "job runs to finish")
    wait_until(lambda: running_senders() <= left_running, "helping workers to finish")


def finished_runs() -> int:
    return JobRun.objects.filter(job=SEND_MASS_EMAILS).exclude(status="running").count()


def running_senders() -> int:
    jobs = [SEND_MASS_EMAILS, SEND_MASS_EMAILS_HELPING]
    return JobRun.objects.filter(job__in=jobs, status="running").count()


def sent_by_each_run() -> list[int]:
    """How many messages each run and each helping worker sent, from their job log."""
    runs = JobRun.objects.filter(job__in=[SEND_MASS_EMAILS, SEND_MASS_EMAILS_HELPING])
    found = [re.match(r"(\d+) sent", run.summary) for run in runs.exclude(status="running")]
    return [int(match.group(1)) for match in found if match]


def sending_on(worker) -> bool:
    """Whether `worker`'s process is logged as sending right now."""
    jobs = [SEND_MASS_EMAILS, SEND_MASS_EMAILS_HELPING]
    running = JobRun.objects.filter(job__in=jobs, status="running")
    return any(run.summary.endswith(f":{worker.pid}…") for run in running)


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
    # Both workers sent, each over several sessions of its own: they really overlapped.
    assert 2 < len(smtp_server.handler.sessions_with_mail) <= 2 * 10
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE


@needs_postgresql
def test_workers_together_never_exceed_the_sources_messages_per_second(
    worker, workers, smtp_server
):
    workers.ensure("second")
    OutboundEmailSettings.objects.update(messages_per_second=25)
    mass_email, addresses = pending_mass_email(300)

    run_job(times=2)  # two runs at once, on the two workers

    assert Counter(smtp_server.received[address] for address in addresses) == {1: len(addresses)}
    assert len([share for share in sent_by_each_run() if share]) == 2  # both sent
    assert most_in_one_second(smtp_server.handler.arrivals) <= 25


@needs_postgresql
def test_one_run_puts_every_worker_to_work_and_sends_each_recipient_once(workers, smtp_server):
    for name in ("main", "second", "third", "fourth"):
        workers.ensure(name)
    mass_email, addresses = pending_mass_email(RECIPIENTS_FOR_FOUR)

    run_job()

    assert smtp_server.total == len(addresses)
    assert Counter(smtp_server.received[address] for address in addresses) == {1: len(addresses)}
    shares = sorted(sent_by_each_run(), reverse=True)
    print(f"one run, four workers: sent {shares} of {len(addresses)}")
    # The run and the three workers it asked to help each sent a real share of the list.
    assert len([share for share in shares if share >= len(addresses) // 20]) == 4
    assert 4 < len(smtp_server.handler.sessions_with_mail) <= 4 * 10
    assert item_states(mass_email) == {Status.SENT: len(addresses)}


@needs_postgresql
def test_a_worker_killed_halfway_loses_nobody_and_duplicates_at_most_its_chunks_in_flight(
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
    in_flight = IN_FLIGHT * chunk_size(10)  # the chunks handed to its sessions, not recorded
    assert left_sending <= in_flight
    # Time passes beyond the lease; the next run resolves the dead worker's claims.
    expire_claims(mass_email)
    workers.start("rescuer")
    run_job(left_running=1)  # the victim's run stays logged as running: it never finished

    assert all(smtp_server.received[address] >= 1 for address in addresses)
    duplicates = smtp_server.total - len(addresses)
    print(f"SIGKILL halfway: {left_sending} items left Sending, {duplicates} duplicates")
    assert 0 <= duplicates <= min(left_sending, in_flight)
    assert item_states(mass_email) == {Status.SENT: len(addresses)}
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE


@needs_postgresql
def test_one_of_four_workers_killed_duplicates_at_most_what_it_had_in_flight(workers, smtp_server):
    kill_one_of_four(workers, smtp_server, RECIPIENTS_FOR_FOUR)


def kill_one_of_four(workers, smtp_server, recipients: int) -> None:
    """Four workers on one mass email of `recipients`; one of them SIGKILLed once all four are
    sending and a third has arrived; then the next run after the lease. Every recipient gets
    the message, and the duplicates are no more than what the killed worker had in flight."""
    workers.stop_all()
    named = {name: workers.start(name) for name in ("main", "second", "third", "fourth")}
    mass_email, addresses = pending_mass_email(recipients)

    send_mass_emails.delay()
    wait_until(lambda: running_senders() == 4, "all four workers to be sending")
    wait_until(lambda: smtp_server.total >= len(addresses) // 3, "a third of the mail to arrive")
    victim = next(worker for worker in named.values() if sending_on(worker))
    sending_before = mass_email.queue_items.filter(status=Status.SENDING).count()
    victim.kill()
    forget_unacked_messages()
    wait_until(lambda: running_senders() <= 1, "the other workers to finish")
    left_sending = mass_email.queue_items.filter(status=Status.SENDING).count()
    in_flight = IN_FLIGHT * chunk_size(10)
    # Only what the killed worker had claimed stays Sending (the others recorded theirs).
    assert left_sending <= min(in_flight, sending_before)
    expire_claims(mass_email)
    run_job(left_running=1)

    duplicates = smtp_server.total - len(addresses)
    print(
        f"SIGKILL of one of four at {recipients} ({victim.name}, {sending_before} Sending "
        f"before): {left_sending} left Sending, {duplicates} duplicates"
    )
    assert all(smtp_server.received[address] >= 1 for address in addresses)
    assert 0 <= duplicates <= min(left_sending, in_flight)
    assert item_states(mass_email) == {Status.SENT: len(addresses)}


def expire_claims(mass_email: MassEmail) -> None:
    """As if the lease had passed since the items left Sending were claimed."""
    mass_email.queue_items.filter(status=Status.SENDING).update(
        claimed_at=timezone.now() - LEASE - timedelta(minutes=1)
    )
