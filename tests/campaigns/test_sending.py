"""The sending job against a real SMTP server (aiosmtpd in-process), on SQLite and PostgreSQL."""

import threading
import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmail, SendingRun
from campaigns.sending import claims, window
from campaigns.sending.job import run_send_job
from campaigns.sending.portion import CHUNK_SIZE
from campaigns.sending.transport import Transport
from crm.models import JobRun, OutboundEmailSettings
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    EmailTemplateFactory,
    MassEmailFactory,
    PendingQueueItemFactory,
)
from tests.integration.smtp_server import configure_system_smtp, free_port

Status = EmailQueueItem.Status
pytestmark = pytest.mark.django_db


def queue(count: int, **mass_email_fields) -> MassEmail:
    mass_email = MassEmailFactory(status=MassEmail.Status.IN_PROCESS, **mass_email_fields)
    PendingQueueItemFactory.create_batch(count, mass_email=mass_email)
    return mass_email


def statuses(mass_email: MassEmail) -> list[str]:
    return list(mass_email.queue_items.order_by("id").values_list("status", flat=True))


def test_it_sends_every_pending_item_once_and_completes(smtp_server, limits):
    mass_email = queue(3, store_sent_emails=True)

    report = run_send_job()

    assert report.sent == 3
    items = list(mass_email.queue_items.select_related("email_address"))
    assert all(smtp_server.received[item.email_address.address_lower] == 1 for item in items)
    assert all(item.status == Status.SENT and item.sent_at and item.attempts == 1 for item in items)
    assert all(item.email == item.email_address.address for item in items)
    sent_log = CampaignLogRecord.objects.filter(action="sent", campaign=mass_email.campaign)
    assert sent_log.count() == 3 and not sent_log.filter(is_test=True).exists()
    assert {row.contact_id for row in sent_log} == {item.contact_id for item in items}
    assert items[0].sent_email.data.startswith(("From:", "MIME", "Date", "Message-ID"))
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE


def test_it_sends_what_the_template_renders(smtp_server, limits):
    template = EmailTemplateFactory(subject="Hi {Person.firstName}")
    mass_email = queue(1, email_template=template)
    item = mass_email.queue_items.get()

    run_send_job()

    (message,) = smtp_server.messages_to(item.email_address.address)
    assert message["Subject"] == f"Hi {item.contact.first_name}"
    assert message["X-Queue-Item-Id"] and message["List-Unsubscribe"]


def sent_earlier(item_ids: list[int], at, is_test: bool = False) -> None:
    """Make items Sent at `at`, counted in the hourly window as recording them does."""
    EmailQueueItem.objects.filter(id__in=item_ids).update(
        status=Status.SENT, sent_at=at, is_test=is_test
    )
    if not is_test:
        window.add_sent(at, len(item_ids))


def test_it_sends_no_more_than_the_hourly_window_allows(smtp_server, limits):
    limits.max_per_hour = 5
    limits.save()
    now = timezone.now()
    earlier = queue(4)
    sent_ids = list(earlier.queue_items.values_list("id", flat=True))
    sent_earlier(sent_ids[:2], now - timedelta(minutes=30))
    sent_earlier(sent_ids[2:3], now - timedelta(minutes=61))
    sent_earlier(sent_ids[3:], now - timedelta(minutes=5), is_test=True)
    mass_email = queue(10)

    assert claims.hourly_allowance(5, now) == 3
    report = run_send_job(now=now)

    assert report.sent == 3
    assert statuses(mass_email).count(Status.SENT) == 3
    assert claims.hourly_allowance(5, timezone.now()) == 0


def test_it_counts_items_being_sent_by_another_run_in_the_window(limits):
    mass_email = queue(4)
    EmailQueueItem.objects.filter(pk=mass_email.queue_items.first().pk).update(
        status=Status.SENDING, claimed_at=timezone.now()
    )

    assert claims.hourly_allowance(3, timezone.now()) == 2


def test_it_caps_a_run_at_max_per_batch(smtp_server, limits):
    limits.max_per_batch = 2
    limits.save()
    mass_email = queue(5)

    report = run_send_job()

    assert report.sent == 2
    assert statuses(mass_email) == [Status.SENT] * 2 + [Status.PENDING] * 3
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.IN_PROCESS


def test_it_sends_oldest_mass_emails_first(smtp_server, limits):
    limits.max_per_batch = 2
    limits.save()
    newer = queue(2, start_at=timezone.now() - timedelta(minutes=5))
    older = queue(2, start_at=timezone.now() - timedelta(days=1))

    run_send_job()

    assert statuses(older) == [Status.SENT, Status.SENT]
    assert statuses(newer) == [Status.PENDING, Status.PENDING]


def test_it_rechecks_address_flags_at_send_time(smtp_server, limits):
    mass_email = queue(3)
    opted_out, invalid, fine = mass_email.queue_items.select_related("email_address")
    opted_out.email_address.opt_out = True
    opted_out.email_address.save()
    invalid.email_address.invalid = True
    invalid.email_address.save()

    run_send_job()

    opted_out.refresh_from_db()
    invalid.refresh_from_db()
    assert (opted_out.status, opted_out.attempts) == (Status.FAILED, 0)
    assert "opted out" in opted_out.last_error
    assert invalid.status == Status.FAILED and "invalid" in invalid.last_error
    assert smtp_server.total == 1
    assert smtp_server.received[fine.email_address.address_lower] == 1


def test_it_mails_opted_out_addresses_for_informational_campaigns(smtp_server, limits):
    mass_email = queue(1, campaign=CampaignFactory(type="informational"))
    item = mass_email.queue_items.select_related("email_address").get()
    item.email_address.opt_out = True
    item.email_address.save()

    run_send_job()

    item.refresh_from_db()
    assert item.status == Status.SENT
    assert smtp_server.total == 1


def test_it_retries_a_4xx_in_a_later_run_then_gives_up(smtp_server, limits):
    mass_email = queue(2)
    greylisted, other = mass_email.queue_items.select_related("email_address")
    smtp_server.refuse(greylisted.email_address.address, "451 4.7.1 Greylisted, try later")

    run_send_job()
    greylisted.refresh_from_db()
    assert (greylisted.status, greylisted.attempts) == (Status.PENDING, 1)
    assert "451" in greylisted.last_error and "Greylisted" in greylisted.last_error
    run_send_job(now=timezone.now() + timedelta(minutes=11))
    run_send_job(now=timezone.now() + timedelta(minutes=32))

    greylisted.refresh_from_db()
    assert (greylisted.status, greylisted.attempts) == (Status.FAILED, 3)
    assert "Greylisted" in greylisted.last_error
    assert smtp_server.received[other.email_address.address_lower] == 1
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE


def test_it_fails_a_5xx_recipient_with_the_servers_words(smtp_server, limits):
    mass_email = queue(2)
    unknown, other = mass_email.queue_items.select_related("email_address")
    smtp_server.refuse(unknown.email_address.address, "550 5.1.1 No such mailbox here")

    run_send_job()

    unknown.refresh_from_db()
    assert (unknown.status, unknown.attempts) == (Status.FAILED, 1)
    assert "550" in unknown.last_error and "No such mailbox here" in unknown.last_error
    bounce = CampaignLogRecord.objects.get(action="bounced", queue_item=unknown)
    assert bounce.bounce_type == "hard"
    unknown.email_address.refresh_from_db()
    assert unknown.email_address.invalid
    assert smtp_server.received[other.email_address.address_lower] == 1


def test_it_uses_no_attempt_when_the_server_is_down(limits):
    configure_system_smtp(free_port())
    mass_email = queue(3)

    report = run_send_job()

    assert report.sent == 0 and report.problems
    assert "refused" in report.summary()
    assert (
        list(mass_email.queue_items.values_list("status", "attempts")) == [(Status.PENDING, 0)] * 3
    )
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.IN_PROCESS


def test_it_waits_out_a_421_and_sends_once_the_server_recovers(smtp_server, limits):
    mass_email = queue(3)
    smtp_server.answer_closing()

    first = run_send_job()
    assert first.sent == 0 and "421" in first.summary()
    assert (
        list(mass_email.queue_items.values_list("status", "attempts")) == [(Status.PENDING, 0)] * 3
    )

    smtp_server.recover()
    second = run_send_job()

    assert second.sent == 3
    assert statuses(mass_email) == [Status.SENT] * 3
    assert smtp_server.total == 3


@pytest.mark.parametrize("status", [MassEmail.Status.PAUSED, MassEmail.Status.CANCELED])
def test_it_sends_nothing_for_paused_or_canceled_mass_emails(smtp_server, limits, status):
    mass_email = queue(2)
    MassEmail.objects.filter(pk=mass_email.pk).update(status=status)

    run_send_job()

    assert statuses(mass_email) == [Status.PENDING] * 2
    assert smtp_server.total == 0


def test_it_sends_again_what_a_dead_worker_left_sending(smtp_server, limits):
    mass_email = queue(3)
    stale, fresh, pending = mass_email.queue_items.all()
    long_ago = timezone.now() - claims.LEASE - timedelta(minutes=1)
    EmailQueueItem.objects.filter(pk=stale.pk).update(status=Status.SENDING, claimed_at=long_ago)
    EmailQueueItem.objects.filter(pk=fresh.pk).update(
        status=Status.SENDING, claimed_at=timezone.now()
    )

    report = run_send_job()

    assert report.requeued == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, stale.attempts) == (Status.SENT, 2)
    assert fresh.status == Status.SENDING  # another worker may still be sending it
    assert statuses(mass_email) == [Status.SENT, Status.SENDING, Status.SENT]
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.IN_PROCESS


def test_it_fails_an_item_whose_worker_died_at_every_attempt(limits):
    mass_email = queue(1)
    long_ago = timezone.now() - claims.LEASE - timedelta(minutes=1)
    mass_email.queue_items.update(status=Status.SENDING, claimed_at=long_ago, attempts=2)

    assert claims.resolve_stale_claims(timezone.now(), max_attempts=3) == 1

    item = mass_email.queue_items.get()
    assert (item.status, item.attempts) == (Status.FAILED, 3)
    assert "stopped" in item.last_error


def test_a_run_that_lasts_longer_than_the_lease_keeps_its_claims(limits):
    # A claim's lease counts from when it was taken, not from when its run started: a long
    # run's claims are not taken for a dead worker's by the next run.
    mass_email = queue(3)
    run_start = timezone.now() - claims.LEASE - timedelta(minutes=5)

    with transaction.atomic():
        claimed = claims.claim_portion(mass_email.pk, 3, 1000, run_start)

    assert len(claimed.ids) == 3
    assert claims.resolve_stale_claims(timezone.now(), max_attempts=3) == 0
    assert statuses(mass_email) == [Status.SENDING] * 3


@pytest.mark.django_db(transaction=True)
def test_a_chunk_that_takes_longer_than_the_lease_is_not_sent_twice(
    smtp_server, limits, monkeypatch
):
    # Ten messages at two a second take five seconds, longer than a lease of three: the portion
    # renews its claims while it waits, so the next runs, resolving stale claims all along,
    # never take them for a dead worker's.
    monkeypatch.setattr(claims, "LEASE", timedelta(seconds=3))
    OutboundEmailSettings.objects.update(connections=1, messages_per_second=2)
    mass_email = queue(10)
    resolved, done = [], threading.Event()

    def next_runs() -> None:
        try:
            while not done.wait(0.2):
                resolved.append(claims.resolve_stale_claims(timezone.now(), max_attempts=3))
        finally:
            connections.close_all()

    resolving = threading.Thread(target=next_runs)
    resolving.start()
    try:
        report = run_send_job()
    finally:
        done.set()
        resolving.join()

    assert report.sent == 10 and len(resolved) > 20
    assert sum(resolved) == 0
    assert set(mass_email.queue_items.values_list("status", "attempts")) == {(Status.SENT, 1)}
    assert smtp_server.total == 10


@pytest.mark.django_db(transaction=True)
def test_a_recording_that_gives_budget_back_then_claims_never_deadlocks_with_a_claim(limits):
    # A worker's recording transaction gives back what waited for its domain, then claims the
    # next chunk; another worker of the run claims meanwhile. Both touch the run's row and the
    # window's lock: in the same order, or PostgreSQL aborts one of them.
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one worker")
    mass_email = queue(10)
    run = SendingRun.objects.create(budget=100, claimed=5)
    now = timezone.now()
    both, claimed, errors = threading.Barrier(2), [], []

    def recording() -> None:
        try:
            with transaction.atomic():
                claims.give_back(run.pk, 1)
                both.wait()
                time.sleep(0.5)  # the other worker's claim is waiting by now
                claimed.append(claims.claim_portion(mass_email.pk, 2, 1000, now, run.pk))
        except Exception as exc:  # noqa: BLE001  reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    def claiming() -> None:
        try:
            both.wait()
            with transaction.atomic():
                claimed.append(claims.claim_portion(mass_email.pk, 2, 1000, now, run.pk))
        except Exception as exc:  # noqa: BLE001  reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=recording), threading.Thread(target=claiming)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(len(claim.ids) for claim in claimed) == [2, 2]
    run.refresh_from_db()
    assert run.claimed == 5 - 1 + 4


def test_it_never_hands_one_item_to_two_claims(limits):
    mass_email = queue(5)
    now = timezone.now()

    with transaction.atomic():
        first = claims.claim(mass_email.pk, 3, now)
    with transaction.atomic():
        second = claims.claim(mass_email.pk, 3, now)
    with transaction.atomic():
        third = claims.claim(mass_email.pk, 3, now)

    assert len(first) == 3 and len(second) == 2 and third == []
    assert not set(first) & set(second)
    assert statuses(mass_email) == [Status.SENDING] * 5


def test_a_portion_claims_on_from_where_its_last_claim_ended(limits):
    # Each claim of a portion starts above the last fresh item it took, so that it does not
    # walk past everything already sent; a deferred item that has come due is still taken,
    # wherever it stands in the queue.
    mass_email = queue(6)
    ids = sorted(mass_email.queue_items.values_list("id", flat=True))
    now = timezone.now()
    due = mass_email.queue_items.filter(id=ids[0])
    due.update(next_attempt_at=now - timedelta(minutes=1), claimed_at=now - timedelta(hours=1))

    first = claims.claim_portion(mass_email.pk, 2, 1000, now)
    second = claims.claim_portion(mass_email.pk, 2, 1000, now, after=first.last_fresh)
    third = claims.claim_portion(mass_email.pk, 5, 1000, now, after=second.last_fresh)

    assert (first.ids, first.last_fresh) == (ids[1:3], ids[2])
    assert (second.ids, second.last_fresh) == (ids[3:5], ids[4])
    # The last fresh item, then the deferred one, which is not where fresh ones go on from.
    assert (third.ids, third.last_fresh) == (sorted([ids[0], ids[5]]), ids[5])
    assert statuses(mass_email) == [Status.SENDING] * 6
    assert claims.claim_portion(mass_email.pk, 5, 1000, now, after=third.last_fresh).ids == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED is PostgreSQL's")
def test_it_skips_rows_another_open_claim_holds(limits):
    mass_email = queue(6)
    claimed_inside = threading.Event()
    other_done = threading.Event()
    results = {}

    def claim_and_hold():
        try:
            with transaction.atomic():
                results["first"] = claims.claim(mass_email.pk, 4, timezone.now())
                claimed_inside.set()
                other_done.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=claim_and_hold)
    holder.start()
    claimed_inside.wait(timeout=30)
    with transaction.atomic():
        results["second"] = claims.claim(mass_email.pk, 4, timezone.now())
    other_done.set()
    holder.join()

    assert len(results["first"]) == 4 and len(results["second"]) == 2
    assert not set(results["first"]) & set(results["second"])


def test_it_fails_the_mass_email_when_it_cannot_be_rendered(smtp_server, limits):
    template = EmailTemplateFactory(body_html="<p>{trackingUrl:999999}</p>")
    mass_email = queue(2, email_template=template)

    report = run_send_job()

    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.FAILED
    assert "999999" in mass_email.failure_reason
    assert report.problems and smtp_server.total == 0
    assert (
        list(mass_email.queue_items.values_list("status", "attempts")) == [(Status.PENDING, 0)] * 2
    )


def test_it_reuses_one_connection_for_a_run_when_the_source_has_one(smtp_server, limits):
    OutboundEmailSettings.objects.update(connections=1)
    queue(CHUNK_SIZE + 5)

    run_send_job()

    assert smtp_server.total == CHUNK_SIZE + 5
    assert len(smtp_server.handler.sessions_with_mail) == 1


def test_it_sends_over_as_many_sessions_as_the_source_allows(smtp_server, limits):
    OutboundEmailSettings.objects.update(connections=4)
    addresses = [
        item.email_address.address_lower for item in queue(3 * CHUNK_SIZE).queue_items.all()
    ]

    run_send_job()

    assert {address: smtp_server.received[address] for address in addresses} == dict.fromkeys(
        addresses, 1
    )
    assert 1 < len(smtp_server.handler.sessions_with_mail) <= 4


def test_it_builds_due_queues_before_sending(smtp_server, limits):
    from tests.factories import TargetListEntryFactory

    entry = TargetListEntryFactory(contact=ContactFactory())
    mass_email = MassEmailFactory(status=MassEmail.Status.PENDING)
    mass_email.target_lists.add(entry.target_list)
    mass_email.campaign.target_lists.add(entry.target_list)

    report = run_send_job()

    assert report.queued == 1 and report.sent == 1
    assert smtp_server.received[entry.contact.email_address.address_lower] == 1


def test_the_command_prints_what_it_did_and_logs_the_run(smtp_server, limits, capsys):
    queue(2)

    call_command("send_mass_emails")

    assert "2 sent" in capsys.readouterr().out
    run = JobRun.objects.get(job="Send Mass Emails")
    assert run.status == JobRun.Status.SUCCESS and "2 sent" in run.summary


def test_the_command_fails_clearly_without_an_smtp_host(limits):
    settings_row = OutboundEmailSettings.load()
    settings_row.smtp_host = ""
    settings_row.save()
    queue(1)

    with pytest.raises(CommandError, match="SMTP host"):
        call_command("send_mass_emails")

    assert JobRun.objects.get(job="Send Mass Emails").status == JobRun.Status.FAILED


def test_it_reconnects_when_the_server_dropped_the_session(smtp_server):
    transport = Transport(OutboundEmailSettings.load())
    transport.send("news@example.com", "first@example.org", b"Subject: 1\r\n\r\nOne\r\n")

    smtp_server.restart()
    transport.send("news@example.com", "second@example.org", b"Subject: 2\r\n\r\nTwo\r\n")
    transport.close()

    assert smtp_server.received["first@example.org"] == 1
    assert smtp_server.received["second@example.org"] == 1


def test_it_escapes_lines_starting_with_a_dot(smtp_server):
    transport = Transport(OutboundEmailSettings.load())
    transport.send("news@example.com", "dots@example.org", b"Subject: d\r\n\r\n.hidden\r\n..\r\n")
    transport.close()

    (message,) = smtp_server.messages_to("dots@example.org")
    assert message.get_payload() == ".hidden\r\n..\r\n"


def test_it_claims_nothing_once_a_mass_email_is_paused_mid_run(limits):
    mass_email = queue(3)
    MassEmail.objects.filter(pk=mass_email.pk).update(status=MassEmail.Status.PAUSED)

    with transaction.atomic():
        assert claims.claim(mass_email.pk, 3, timezone.now()) == []

    assert statuses(mass_email) == [Status.PENDING] * 3


def test_a_chunk_costs_the_same_statements_whatever_its_size(smtp_server, limits, settings):
    """Claim, load, record: a handful of statements per chunk, none per message (a field read
    that the load skipped would cost one query an item)."""
    settings.MASS_EMAIL_HAND_OUT = False

    def statements_to_send(count: int) -> int:
        queue(count)
        with CaptureQueriesContext(connection) as captured:
            assert run_send_job().sent == count
        return len(captured)

    few, many = statements_to_send(5), statements_to_send(60)

    assert many - few <= 3, (few, many)
