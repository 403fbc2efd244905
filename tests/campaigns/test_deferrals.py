"""Per-recipient deferrals, per-domain backoff and the bounded reconnects, against a real SMTP
server (aiosmtpd) that answers each recipient as told."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import DomainDeferral, EmailQueueItem, MassEmail, MassEmailSettings
from campaigns.sending import deferrals
from campaigns.sending.job import run_send_job
from campaigns.sending.transport import RECONNECTS_PER_RUN
from crm.models import EmailAddress, OutboundEmailSettings
from tests.factories import ContactFactory, MassEmailFactory, PendingQueueItemFactory

Status = EmailQueueItem.Status
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits():
    row = MassEmailSettings.load()
    row.max_per_hour, row.max_per_batch, row.max_attempts = 100_000, None, 4
    row.save()
    return row


def queue_to(*addresses: str) -> MassEmail:
    mass_email = MassEmailFactory(status=MassEmail.Status.IN_PROCESS)
    for address in addresses:
        contact = ContactFactory(email_address=EmailAddress.for_address(address))
        PendingQueueItemFactory(
            mass_email=mass_email, contact=contact, email_address=contact.email_address
        )
    return mass_email


@pytest.fixture
def one_session(smtp_server):
    """Messages one after another over one session, so that the order the rules speak of
    ("in a row") is the order of the queue."""
    OutboundEmailSettings.objects.update(connections=1)
    return smtp_server


def item_to(mass_email: MassEmail, address: str) -> EmailQueueItem:
    return mass_email.queue_items.get(email_address__address_lower=address.lower())


def later(minutes: float):
    return timezone.now() + timedelta(minutes=minutes)


def test_the_backoff_doubles_from_ten_minutes_up_to_six_hours():
    now = timezone.now()
    delays = [deferrals.next_attempt_at(n, now) - now for n in range(1, 9)]
    assert delays[:4] == [timedelta(minutes=m) for m in (10, 20, 40, 80)]
    assert delays[-1] == timedelta(hours=6) and max(delays) == timedelta(hours=6)


def test_a_421_at_rcpt_defers_that_recipient_alone(smtp_server):
    addresses = [f"reader{n}@example.org" for n in range(6)]
    mass_email = queue_to(*addresses)
    smtp_server.script(addresses[2], "421 4.7.0 [TSS04] Try again later")

    report = run_send_job()

    throttled = item_to(mass_email, addresses[2])
    assert (throttled.status, throttled.attempts) == (Status.PENDING, 1)
    assert "421 4.7.0 [TSS04] Try again later" in throttled.last_error
    assert throttled.next_attempt_at > timezone.now() + timedelta(minutes=9)
    assert report.sent == 5 and report.retried == 1
    assert all(smtp_server.received[a] == 1 for a in addresses if a != addresses[2])


def test_a_deferred_item_waits_for_its_time_then_goes_out_once(smtp_server):
    mass_email = queue_to("slow@example.org", "other@example.org")
    smtp_server.script("slow@example.org", "451 4.7.1 Greylisted")

    run_send_job()
    assert run_send_job(now=later(5)).handled == 0  # not due yet
    run_send_job(now=later(11))

    item = item_to(mass_email, "slow@example.org")
    assert (item.status, item.attempts) == (Status.SENT, 2)
    assert smtp_server.received["slow@example.org"] == 1
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE


def test_fresh_items_are_claimed_before_due_deferred_ones(smtp_server, limits):
    mass_email = queue_to("deferred@example.org", "fresh1@example.org", "fresh2@example.org")
    deferred = item_to(mass_email, "deferred@example.org")
    EmailQueueItem.objects.filter(pk=deferred.pk).update(
        attempts=1, next_attempt_at=timezone.now() - timedelta(minutes=1)
    )
    limits.max_per_batch = 2
    limits.save()

    run_send_job()

    assert smtp_server.received["fresh1@example.org"] == 1
    assert smtp_server.received["fresh2@example.org"] == 1
    assert smtp_server.received["deferred@example.org"] == 0


def test_max_attempts_ends_a_deferred_item_failed_with_the_last_words(smtp_server, limits):
    limits.max_attempts = 2
    limits.save()
    mass_email = queue_to("full@example.org")
    smtp_server.script("full@example.org", "452 4.2.2 Mailbox full", "452 4.2.2 Still full")

    run_send_job()
    run_send_job(now=later(11))

    item = item_to(mass_email, "full@example.org")
    assert item.status == Status.FAILED and item.attempts == 2
    assert "Gave up after 2 attempts" in item.last_error and "Still full" in item.last_error


def test_a_421_to_mail_after_some_messages_moves_on_to_a_new_session(smtp_server):
    addresses = [f"reader{n}@example.org" for n in range(7)]
    mass_email = queue_to(*addresses)
    smtp_server.handler.messages_per_session = 3

    report = run_send_job()

    assert report.sent == 7 and report.retried == 0
    assert all(smtp_server.received[a] == 1 for a in addresses)
    assert set(mass_email.queue_items.values_list("attempts", flat=True)) == {1}


def test_a_connection_lost_during_one_message_defers_it_and_the_rest_go_on(smtp_server):
    addresses = [f"reader{n}@example.org" for n in range(5)]
    mass_email = queue_to(*addresses)
    smtp_server.script(addresses[1], "DROP")

    report = run_send_job()

    dropped = item_to(mass_email, addresses[1])
    assert (dropped.status, dropped.attempts) == (Status.PENDING, 1)
    assert "connection was lost" in dropped.last_error
    assert report.sent == 4
    assert [smtp_server.received[a] for a in addresses] == [1, 0, 1, 1, 1]


def test_a_run_reopens_a_dropping_server_a_bounded_number_of_times(smtp_server, one_session):
    count = RECONNECTS_PER_RUN + 5
    addresses = [f"reader{n}@drops{n}.example.org" for n in range(count)]
    mass_email = queue_to(*addresses)
    for address in addresses:
        smtp_server.script(address, "DROP")

    report = run_send_job()

    items = mass_email.queue_items.order_by("id")
    tried = [item for item in items if item.attempts == 1]
    assert len(tried) == RECONNECTS_PER_RUN + 1  # the first session, then each reopened one
    untouched = [item for item in items if item.attempts == 0]
    assert untouched and all(item.status == Status.PENDING for item in untouched)
    assert "dropped the connection" in report.summary()


def test_a_domain_that_defers_three_messages_waits_while_others_go_on(smtp_server, one_session):
    slow = [f"user{n}@slow.example" for n in range(8)]
    fast = [f"user{n}@fast.example" for n in range(4)]
    mass_email = queue_to(*slow[:4], *fast, *slow[4:])
    smtp_server.defer_domain("slow.example", "450 4.7.1 Too many messages, slow down")

    report = run_send_job()

    assert all(smtp_server.received[address] == 1 for address in fast)
    attempts = [item_to(mass_email, address).attempts for address in slow]
    assert attempts == [1, 1, 1, 0, 0, 0, 0, 0]
    assert all(item_to(mass_email, a).status == Status.PENDING for a in slow)
    assert report.waiting == 5
    deferral = DomainDeferral.objects.get(mass_email=mass_email)
    assert deferral.domain == "slow.example" and deferral.deferrals == 3
    assert "slow down" in deferral.last_error

    smtp_server.handler.domain_refusals.clear()
    run_send_job(now=later(1))  # the untried ones: no backoff, they were never attempted
    assert sum(smtp_server.received[a] for a in slow) == 5
    assert not DomainDeferral.objects.filter(mass_email=mass_email).exists()
    run_send_job(now=later(11))
    assert all(smtp_server.received[a] == 1 for a in slow)
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE


def test_a_domain_that_defers_a_few_mailboxes_among_many_accepted_ones_goes_on(
    smtp_server, one_session
):
    addresses = [f"user{n}@big.example" for n in range(12)]
    mass_email = queue_to(*addresses)
    for address in addresses[::3]:  # every third mailbox is throttled: 4 deferrals, not in a row
        smtp_server.script(address, "452 4.2.1 Mailbox is receiving too much mail")

    report = run_send_job()

    assert report.sent == 8 and report.retried == 4 and report.waiting == 0
    assert not DomainDeferral.objects.filter(mass_email=mass_email).exists()


def test_the_mass_email_page_lists_the_deferring_domains(smtp_server, one_session, admin_client):
    mass_email = queue_to(*[f"user{n}@slow.example" for n in range(4)])
    smtp_server.defer_domain("slow.example", "450 4.7.1 Slow down please")
    run_send_job()

    page = admin_client.get(f"/admin/campaigns/massemail/{mass_email.pk}/change/")

    content = page.content.decode()
    assert "slow.example" in content and "Slow down please" in content
    assert 'class="progress-deferred">Deferred: 3<' in content


def test_with_several_sessions_a_deferring_domain_waits_after_one_more_per_session(smtp_server):
    OutboundEmailSettings.objects.update(connections=4)
    slow = [f"user{n}@slow.example" for n in range(40)]
    fast = [f"user{n}@fast.example" for n in range(40)]
    mass_email = queue_to(*[address for pair in zip(slow, fast, strict=True) for address in pair])
    smtp_server.defer_domain("slow.example", "450 4.7.1 Too many messages, slow down")

    report = run_send_job()

    assert all(smtp_server.received[address] == 1 for address in fast)
    tried = sum(item_to(mass_email, address).attempts for address in slow)
    # Three deferrals in a row stop the domain; the sessions that had one of its messages in
    # hand when that happened try it too: at most one more per other session.
    assert 3 <= tried <= 3 + 3
    assert report.waiting == 40 - tried


def test_the_workers_of_a_run_leave_alone_a_domain_one_of_them_found_deferring():
    mass_email = queue_to("user@slow.example")
    run_start = timezone.now()
    first, helper = (deferrals.DomainBackoff(run_start=run_start) for _ in range(2))
    for _ in range(3):
        first.deferred("slow.example", "450 4.7.1 Slow down")
    first.remember(mass_email)
    assert not helper.waiting("slow.example")

    helper.remember(mass_email)  # after its next chunk

    assert helper.waiting("slow.example")
    # A domain found deferring in an earlier run is tried again in the next one.
    next_run = deferrals.DomainBackoff(run_start=timezone.now() + timedelta(seconds=1))
    next_run.remember(mass_email)
    assert not next_run.waiting("slow.example")


def test_items_left_for_a_deferring_domain_give_their_share_of_the_batch_back(
    smtp_server, one_session, limits
):
    limits.max_per_batch = 6
    limits.save()
    slow = [f"user{n}@slow.example" for n in range(4)]
    fast = [f"user{n}@fast.example" for n in range(6)]
    mass_email = queue_to(*slow, *fast)
    smtp_server.defer_domain("slow.example", "450 4.7.1 Too many messages, slow down")

    report = run_send_job()

    # Three deferrals count against the batch; the fourth slow item was never tried, so its
    # place goes to one more fast item.
    assert (report.retried, report.waiting, report.sent) == (3, 1, 3)
    assert sum(smtp_server.received[address] for address in fast) == 3
    assert item_to(mass_email, slow[3]).status == Status.PENDING


def test_a_worker_that_saw_the_domain_accept_does_not_hide_it_from_the_others():
    mass_email = queue_to("user@slow.example")
    earlier = timezone.now() - timedelta(hours=1)
    DomainDeferral.objects.create(
        mass_email=mass_email,
        domain="slow.example",
        since=earlier,
        last_deferred_at=earlier,
        deferrals=3,
        last_error="450 4.7.1 Slow down",
    )
    run_start = timezone.now()
    first, second, third = (deferrals.DomainBackoff(run_start=run_start) for _ in range(3))
    second.accepted("slow.example")  # one message got through to the second worker
    for _ in range(3):
        first.deferred("slow.example", "450 4.7.1 Slow down")
    first.remember(mass_email)

    second.remember(mass_email)
    third.remember(mass_email)

    assert third.waiting("slow.example")
    assert DomainDeferral.objects.filter(mass_email=mass_email).exists()


def test_a_run_claims_at_most_twice_its_batch_however_much_waits_for_a_domain(
    smtp_server, one_session, limits
):
    limits.max_per_batch = 4
    limits.save()
    mass_email = queue_to(*[f"user{n}@slow.example" for n in range(20)], "last@fast.example")
    smtp_server.defer_domain("slow.example", "450 4.7.1 Too many messages, slow down")

    report = run_send_job()

    # Four claimed, three deferred; the items left for the domain give back four places at
    # most, so the run does not walk the whole queue for a domain that defers.
    assert report.retried == 3 and report.waiting <= 5
    assert mass_email.queue_items.exclude(claimed_at=None).count() <= 2 * 4
    assert smtp_server.total == 0
