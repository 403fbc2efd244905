"""Bounces written by a real Exim (tests/exim_server.py), read like the mailbox reads them.

Exim 4.96 writes RFC 3464 reports whose Status is the generic 5.0.0, the server's reply only in
the Diagnostic-Code (or, for an address no router takes, only in the text): the outcome must
come from there.
"""

import pytest

from campaigns.authoring import tokens
from tests.exim_server import exim_mta  # noqa: F401
from tests.imap_server import imap_mailbox, imap_server  # noqa: F401
from tests.tracking.dsn import original
from tests.tracking.test_mailboxes import account_for
from tests.tracking.test_postfix_bounces import outcome, queued
from tracking import bounces, mailboxes

pytestmark = pytest.mark.django_db

RETURNED = {
    "nosuchuser@local.test": "hard",
    "someone@policy.test": "blocked",
    "someone@unreachable.test": "soft",
}


@pytest.fixture
def mta(exim_mta):  # noqa: F811
    exim_mta.clear()
    return exim_mta


def send_all(mta, items) -> list[bytes]:
    for address, item in items.items():
        envelope = f"bounce+{tokens.make_verp(item.pk)}@bounces.test"
        mta.send(envelope, address, original(item).replace("\n", "\r\n").encode())
    return mta.wait_for(len(items))


def test_each_exim_bounce_names_its_item_and_kind(mta):
    items = queued(list(RETURNED))

    parsed = [bounces.parse(dsn) for dsn in send_all(mta, items)]

    assert {bounce.recipient: (bounce.item_id, bounce.kind) for bounce in parsed} == {
        address: (items[address].pk, kind) for address, kind in RETURNED.items()
    }


def test_exim_bounces_through_the_mailbox(mta, imap_mailbox):  # noqa: F811
    items = queued(list(RETURNED))
    for dsn in send_all(mta, items):
        imap_mailbox.append(dsn)

    result = mailboxes.check_account(account_for(imap_mailbox))

    assert (result.read, result.hard, result.soft, result.blocked) == (3, 1, 1, 1)
    assert outcome(items["nosuchuser@local.test"]) == (["hard"], True, 0)
    assert outcome(items["someone@policy.test"]) == (["blocked"], False, 0)
    assert outcome(items["someone@unreachable.test"]) == (["soft"], False, 1)
