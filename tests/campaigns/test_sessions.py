"""Several SMTP sessions per source, messages streamed one round trip each, sessions renewed after
`messages per session`, and relays that cap or close sessions (campaigns.sending.sessions,
campaigns.sending.smtp_stream), against a real SMTP server (aiosmtpd), sometimes behind a
proxy that delays every packet as a distant relay would."""

import socket
import threading
from collections import Counter

import pytest

from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings
from campaigns.sending.job import run_send_job
from crm.models import EmailAddress, OutboundEmailSettings
from tests.delay_proxy import DelayProxy
from tests.factories import ContactFactory, MassEmailFactory, PendingQueueItemFactory
from tests.integration.smtp_server import SmtpServer, configure_system_smtp

Status = EmailQueueItem.Status
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits():
    row = MassEmailSettings.load()
    row.max_per_hour, row.max_per_batch = 100_000, None
    row.save()
    return row


@pytest.fixture
def pipelining_server():
    server = SmtpServer().start()
    configure_system_smtp(server.port)
    yield server
    server.stop()


def queue(count: int, domain: str = "example.org") -> list[str]:
    mass_email = MassEmailFactory(status=MassEmail.Status.IN_PROCESS)
    addresses = [f"reader{n}@{domain}" for n in range(count)]
    for address in addresses:
        contact = ContactFactory(email_address=EmailAddress.for_address(address))
        PendingQueueItemFactory(
            mass_email=mass_email, contact=contact, email_address=contact.email_address
        )
    return addresses


def capacity(**fields) -> None:
    OutboundEmailSettings.objects.update(**fields)


def received_once(server: SmtpServer, addresses: list[str]) -> bool:
    return Counter(server.received[address] for address in addresses) == {1: len(addresses)}


def test_one_session_sends_each_message_in_one_round_trip(pipelining_server):
    capacity(connections=1)
    addresses = queue(30)

    with DelayProxy(pipelining_server.port, delay=0.002) as proxy:
        configure_system_smtp(proxy.port)
        run_send_job()

    assert received_once(pipelining_server, addresses)
    # EHLO, the first envelope, then one turn per message (its content with the next envelope),
    # and QUIT: without pipelining across messages it would be two turns a message.
    assert proxy.connections == 1
    assert proxy.turns <= len(addresses) + 3


def test_a_session_is_renewed_after_its_messages_per_session(pipelining_server):
    capacity(connections=1, messages_per_session=5)
    addresses = queue(23)

    report = run_send_job()

    assert received_once(pipelining_server, addresses) and report.sent == 23
    assert len(pipelining_server.handler.sessions_with_mail) == 5  # 5, 5, 5, 5 and 3


def test_a_relay_that_closes_each_session_after_some_messages_gets_every_message(
    pipelining_server,
):
    pipelining_server.handler.messages_per_session = 4  # then 421 to MAIL, as SES does
    capacity(connections=3)
    addresses = queue(50)

    report = run_send_job()

    assert received_once(pipelining_server, addresses)
    assert report.sent == 50 and report.retried == 0
    assert set(EmailQueueItem.objects.values_list("attempts", flat=True)) == {1}


def test_a_relay_that_caps_concurrent_sessions_gets_everything_over_the_ones_it_allows(
    pipelining_server,
):
    pipelining_server.handler.max_sessions = 2
    capacity(connections=10)
    addresses = queue(300)

    report = run_send_job()

    assert received_once(pipelining_server, addresses)
    assert report.sent == 300 and not report.problems
    assert len(pipelining_server.handler.sessions_with_mail) <= 2
    assert set(EmailQueueItem.objects.values_list("attempts", flat=True)) == {1}


def test_a_server_that_is_down_gets_one_connection_attempt_per_run():
    attempts = []
    listener = socket.create_server(("127.0.0.1", 0))

    def refuse_all():  # accepts, then hangs up before the greeting: down for SMTP
        while True:
            try:
                connection, _peer = listener.accept()
            except OSError:
                return
            attempts.append(1)
            connection.close()

    threading.Thread(target=refuse_all, daemon=True).start()
    configure_system_smtp(listener.getsockname()[1])
    capacity(connections=10)
    queue(200)

    report = run_send_job()
    listener.close()

    assert len(attempts) == 1
    assert report.sent == 0 and report.problems
    assert set(EmailQueueItem.objects.values_list("status", "attempts")) == {(Status.PENDING, 0)}


def test_a_refused_recipient_in_the_middle_of_a_stream_fails_alone(pipelining_server):
    capacity(connections=1)
    addresses = queue(12)
    pipelining_server.refuse(addresses[5], "550 5.1.1 No such user here")
    pipelining_server.refuse(addresses[6], "451 4.7.1 Greylisted, try later")

    report = run_send_job()

    assert report.sent == 10 and report.failed == 1 and report.retried == 1
    others = addresses[:5] + addresses[7:]
    assert received_once(pipelining_server, others)
    refused = EmailQueueItem.objects.get(email_address__address_lower=addresses[5])
    assert refused.status == Status.FAILED and "No such user here" in refused.last_error
    deferred = EmailQueueItem.objects.get(email_address__address_lower=addresses[6])
    assert deferred.status == Status.PENDING and "Greylisted" in deferred.last_error


def test_many_sessions_to_a_distant_relay_deliver_everything_once(pipelining_server):
    capacity(connections=8)
    addresses = queue(400)

    with DelayProxy(pipelining_server.port, delay=0.01) as proxy:
        configure_system_smtp(proxy.port)
        report = run_send_job()

    assert received_once(pipelining_server, addresses) and report.sent == 400
    assert 1 < proxy.connections <= 8
