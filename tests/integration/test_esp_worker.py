"""Mass email through an ESP's API (Postmark's batch call; SendGrid's, Mailgun's and SES's batch
calls, one template and each recipient's variables) from real Celery workers: every recipient
receives their message exactly once, and every worker takes a share."""

from collections import Counter

import pytest

from campaigns.models import EmailQueueItem
from crm.models import OutboundEmailSettings
from tests.esp_servers import SERVERS, configure
from tests.integration.test_worker import (
    item_states,
    needs_postgresql,
    pending_mass_email,
    run_job,
    sent_by_each_run,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = EmailQueueItem.Status


@pytest.fixture
def postmark(transactional_db):
    server = SERVERS["postmark"]().start()
    configure(OutboundEmailSettings.load(), server)
    yield server
    server.stop()


@pytest.fixture(params=["sendgrid", "mailgun", "amazon_ses"])
def shared_body_esp(request, transactional_db):
    server = SERVERS[request.param]().start()
    configure(OutboundEmailSettings.load(), server)
    yield server
    server.stop()


def received(server) -> Counter:
    return Counter(message.to.lower() for message in server.received)


def test_a_worker_sends_a_mass_email_through_postmark_batches(worker, postmark):
    mass_email, addresses = pending_mass_email(300)

    run_job()

    assert received(postmark) == dict.fromkeys(addresses, 1)
    assert max(postmark.batches) > 1  # whole messages in batch calls
    assert item_states(mass_email) == {Status.SENT: 300}
    ids = set(mass_email.queue_items.values_list("esp_message_id", flat=True))
    assert len(ids) == 300 and ids == {message.message_id for message in postmark.received}


def test_a_worker_sends_through_sendgrid_mailgun_and_ses_batch_calls(worker, shared_body_esp):
    mass_email, addresses = pending_mass_email(300)

    run_job()

    assert received(shared_body_esp) == dict.fromkeys(addresses, 1)
    assert max(shared_body_esp.batches) > 1  # recipients in batch calls
    assert item_states(mass_email) == {Status.SENT: 300}
    unsubscribes = {message.headers["List-Unsubscribe"] for message in shared_body_esp.received}
    assert len(unsubscribes) == 300  # each recipient's own


@needs_postgresql
def test_two_workers_share_a_mass_email_through_the_api_each_recipient_once(workers, postmark):
    for name in ("main", "second"):
        workers.ensure(name)
    postmark.delay = 0.02  # an API a little away: one worker alone does not finish at once
    mass_email, addresses = pending_mass_email(2000)

    run_job()

    assert received(postmark) == dict.fromkeys(addresses, 1)
    shares = sorted(sent_by_each_run(), reverse=True)
    print(f"one run, two workers, Postmark API: sent {shares} of {len(addresses)}")
    assert len([share for share in shares if share >= len(addresses) // 20]) == 2
    assert item_states(mass_email) == {Status.SENT: len(addresses)}
