"""A source's messages per second (campaigns.sending.rate): slots one interval apart under one
clock, shared by every thread and worker, and never more than the rate in any second at the
server."""

import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from campaigns.models import MassEmail, MassEmailSettings
from campaigns.sending import rate
from campaigns.sending.job import run_send_job
from crm.models import EmailAddress, OutboundEmailSettings
from tests.factories import ContactFactory, MassEmailFactory, PendingQueueItemFactory
from tests.integration.smtp_server import SmtpServer, configure_system_smtp

pytestmark = pytest.mark.django_db


def most_in_one_second(times: list[float]) -> int:
    """The largest number of `times` inside any window of one second."""
    times = sorted(times)
    most, first = 0, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def slot_stores() -> list:
    stores = [rate.LocalSlots()]
    if connection.vendor == "postgresql":
        stores.append(rate.DatabaseSlots())
    if settings.SENDING_RATE_REDIS_URL:
        stores.append(
            rate.RedisSlots(settings.SENDING_RATE_REDIS_URL, settings.SENDING_RATE_KEY_PREFIX)
        )
    return stores


@pytest.mark.parametrize("store", range(3), ids=["local", "postgresql", "redis"])
def test_slots_come_one_interval_apart_for_every_thread(store, transactional_db):
    stores = slot_stores()
    if store >= len(stores):
        pytest.skip("this store needs PostgreSQL or Redis (CI runs them)")
    limit = rate.RateLimit(f"test-{time.monotonic_ns()}", 50, stores[store])
    taken: list[float] = []

    def take(count: int) -> None:
        for _ in range(count):
            limit.take()
            taken.append(time.monotonic())

    threads = [threading.Thread(target=take, args=(10,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(taken) == 40
    assert most_in_one_second(taken) <= 50
    # Forty slots 21 ms apart span at least 39 intervals, whoever took them.
    assert max(taken) - min(taken) >= 39 * limit.interval * 0.95
    assert limit.take(block=False) is False  # the next slot is not free yet


def test_a_source_without_a_rate_has_no_limit():
    assert isinstance(rate.limit_for(OutboundEmailSettings.load()), rate.NoLimit)


def test_a_mass_email_never_exceeds_its_rate_in_any_second_at_the_server():
    server = SmtpServer().start()
    try:
        configure_system_smtp(server.port)
        OutboundEmailSettings.objects.update(connections=4, messages_per_second=20)
        limits = MassEmailSettings.load()
        limits.max_per_hour, limits.max_per_batch = 100_000, None
        limits.save()
        mass_email = MassEmailFactory(status=MassEmail.Status.IN_PROCESS)
        for n in range(45):
            contact = ContactFactory(email_address=EmailAddress.for_address(f"r{n}@example.org"))
            PendingQueueItemFactory(
                mass_email=mass_email, contact=contact, email_address=contact.email_address
            )

        report = run_send_job()
    finally:
        server.stop()

    assert report.sent == 45
    assert most_in_one_second(server.handler.arrivals) <= 20
