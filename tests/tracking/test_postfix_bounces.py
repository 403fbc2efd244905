"""Bounces written by a real Postfix, read from a real Dovecot mailbox (tests/postfix_server.py).

Our sending job sends through Postfix with VERP on; Postfix refuses two recipients at RCPT
time and returns real delivery status notifications for the others (an unknown user, a full
mailbox, an unreachable host, a blocklist refusal by the next server). The DSNs land in the
bounce mailbox and "Check Group Email Accounts" records them.
"""

import pytest

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord, MassEmail, MassEmailSettings
from campaigns.sending.job import run_send_job
from tests.factories import (
    ContactFactory,
    EmailAddressFactory,
    MassEmailFactory,
    PendingQueueItemFactory,
)
from tests.imap_server import imap_mailbox, imap_server  # noqa: F401
from tests.integration.smtp_server import configure_system_smtp
from tests.postfix_server import REFUSED_BLOCKED, REFUSED_UNKNOWN, postfix_mta  # noqa: F401
from tests.tracking.dsn import original
from tests.tracking.test_mailboxes import account_for
from tracking import bounces, mailboxes

pytestmark = pytest.mark.django_db

RETURNED = {
    "nosuchuser@local.test": ("hard", "5.1.1"),
    "full@full.test": ("soft", "5.2.2"),
    "someone@unreachable.test": ("soft", "4.4.1"),
    "someone@policy.test": ("blocked", "5.7.1"),
}


@pytest.fixture
def mta(postfix_mta):  # noqa: F811
    postfix_mta.clear()
    return postfix_mta


@pytest.fixture
def verp_through_postfix(mta):
    configure_system_smtp(mta.port)
    config = MassEmailSettings.load()
    config.verp, config.verp_domain = True, "bounces.test"
    config.max_per_hour, config.max_per_batch, config.max_attempts = 1000, None, 3
    config.save()
    return mta


def queued(addresses: list[str]) -> dict[str, object]:
    mass_email = MassEmailFactory(status=MassEmail.Status.IN_PROCESS)
    items = {}
    for address in addresses:
        contact = ContactFactory(email_address=EmailAddressFactory(address=address))
        items[address] = PendingQueueItemFactory(mass_email=mass_email, contact=contact)
    return items


def outcome(item) -> tuple[list[str], bool, int]:
    kinds = CampaignLogRecord.objects.filter(queue_item=item, action="bounced")
    item.email_address.refresh_from_db()
    address = item.email_address
    return (
        sorted(kinds.values_list("bounce_type", flat=True)),
        address.invalid,
        address.soft_bounces,
    )


def test_postfix_bounces_are_recorded_by_kind(verp_through_postfix, imap_mailbox):  # noqa: F811
    items = queued(list(RETURNED))

    run_send_job()
    for dsn in verp_through_postfix.wait_for(len(RETURNED)):
        imap_mailbox.append(dsn)
    result = mailboxes.check_account(account_for(imap_mailbox))

    assert (result.read, result.hard, result.soft, result.blocked) == (4, 1, 2, 1)
    assert outcome(items["nosuchuser@local.test"]) == (["hard"], True, 0)
    assert outcome(items["full@full.test"]) == (["soft"], False, 1)
    assert outcome(items["someone@unreachable.test"]) == (["soft"], False, 1)
    assert outcome(items["someone@policy.test"]) == (["blocked"], False, 0)
    blocked = CampaignLogRecord.objects.get(bounce_type="blocked")
    assert "blocked using zen.spamhaus.example" in blocked.bounce_detail


def test_each_postfix_dsn_names_its_item_status_and_recipient(mta):
    items = queued(list(RETURNED))
    for address, item in items.items():
        envelope = f"bounce+{tokens.make_verp(item.pk)}@bounces.test"
        mta.send(envelope, address, original(item).replace("\n", "\r\n").encode())

    parsed = [bounces.parse(dsn) for dsn in mta.wait_for(len(RETURNED))]

    found = {bounce.recipient: (bounce.item_id, bounce.kind, bounce.status) for bounce in parsed}
    assert found == {a: (items[a].pk, *RETURNED[a]) for a in RETURNED}


def test_a_verp_address_whose_case_changed_on_the_way_still_names_its_item(mta):
    item = queued(["nosuchuser@local.test"])["nosuchuser@local.test"]
    envelope = f"BOUNCE+{tokens.make_verp(item.pk).upper()}@BOUNCES.TEST"
    data = original(item, header_token="none.AAAA").replace("\n", "\r\n").encode()

    mta.send(envelope, "nosuchuser@local.test", data)
    (dsn,) = mta.wait_for(1)

    assert envelope.encode() in dsn
    assert bounces.parse(dsn).item_id == item.pk


def test_refusals_at_send_time_follow_the_same_rules(verp_through_postfix):
    items = queued([REFUSED_BLOCKED, REFUSED_UNKNOWN])

    run_send_job()

    assert outcome(items[REFUSED_BLOCKED]) == (["blocked"], False, 0)
    assert outcome(items[REFUSED_UNKNOWN]) == (["hard"], True, 0)
    record = CampaignLogRecord.objects.get(queue_item=items[REFUSED_BLOCKED], action="bounced")
    assert "listed on bl.example" in record.bounce_detail
