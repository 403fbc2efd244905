"""Hard, soft or blocked: one rule for every refusal (campaigns.bounce_kinds)."""

import pytest

from campaigns.bounce_kinds import bounce_kind, codes_in, kind_of_reply


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("550 5.1.1 <a@example.org>: Recipient address rejected: User unknown", "hard"),
        ("550-5.1.1 The email account that you tried to reach does not exist.", "hard"),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found", "hard"),
        ("550 5.2.1 The email account that you tried to reach is disabled.", "hard"),
        ("550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", "hard"),
        ("554 5.4.4 Unable to route: no mail hosts for domain", "hard"),
        ("550 Requested action not taken: mailbox unavailable", "soft"),
        ("554 delivery error: dd This user doesn't have a yahoo.com account", "hard"),
        ("550 No such user here", "hard"),
        ("452 4.2.2 The email account that you tried to reach is over quota.", "soft"),
        ("552 5.2.2 Mailbox full", "soft"),
        ("552 5.3.4 Message size exceeds fixed maximum message size", "soft"),
        ("421 4.7.0 [TSS04] Messages temporarily deferred due to user complaints", "blocked"),
        ("451 4.7.1 Greylisted, please try again later", "soft"),
        ("550 5.0.0 Message rejected for an unknown reason", "soft"),
        (
            "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using Spamhaus",
            "blocked",
        ),
        ("550 5.7.26 This message does not pass authentication checks (DMARC)", "blocked"),
        ("553 5.7.1 [BL21] Connections not accepted from 192.0.2.1, listed by Spamhaus", "blocked"),
        ("550 5.7.1 Relaying denied", "blocked"),
        ("550 5.6.0 Message content rejected", "blocked"),
        ("553 5.1.8 <news@example.com>: Sender address rejected: Domain not found", "blocked"),
        ("550 5.1.7 Invalid sender address", "blocked"),
        ("554 Your message was rejected as spam", "blocked"),
        ("550 Sender address rejected: User unknown in local recipient table", "blocked"),
        ("550 5.0.0 User jdoe (jdoe@example.org) not listed in Domino Directory", "hard"),
        ("550 The account jdoe@example.org has been disabled", "hard"),
        ("550 Message rejected due to content restrictions", "blocked"),
        ("<mx.example.org #5.5.0 smtp;550 5.1.1 User unknown>", "hard"),
        ("#< #5.1.1 smtp;550 5.1.1 RESOLVER.ADR.RecipNotFound; not found> #SMTP#", "hard"),
    ],
)
def test_it_classifies_a_servers_reply(reply, kind):
    assert kind_of_reply(reply) == kind


def test_the_enhanced_code_decides_unless_the_servers_own_words_say_plainly_otherwise():
    assert bounce_kind(550, "5.1.1", "Recipient address rejected") == "hard"
    assert bounce_kind(550, "5.1.1", "Requested action not taken: mailbox unavailable") == "hard"
    assert bounce_kind(550, "5.1.1", "192.0.2.1 has sent to too many recipients") == "blocked"
    assert bounce_kind(550, "5.1.1", "max message size exceeded") == "soft"
    assert bounce_kind(550, "5.7.1", "user unknown") == "hard"
    assert bounce_kind(550, "5.7.1", "user unknown; blocked by policy") == "blocked"
    assert bounce_kind(550, "5.1.8", "no such domain example.com") == "blocked"
    assert bounce_kind(550, "5.0.0", "user unknown") == "hard"


def test_successes_and_silence_are_no_failure():
    assert bounce_kind(250, "2.0.0", "ok") is None
    assert bounce_kind(None, None, "thanks for your message") is None
    assert bounce_kind(550, None, "") == "soft"


def test_it_finds_the_codes_in_a_servers_words():
    assert codes_in("host mx said: 550-5.1.1 The email account") == (550, "5.1.1")
    assert codes_in("Sorry, no mailbox here by that name. (#5.1.1)") == (None, "5.1.1")
    assert codes_in("554: delivery error: dd This user") == (554, None)
    assert codes_in("<mx #5.5.0 smtp;550 5.1.1 User unknown>") == (550, "5.1.1")
    assert codes_in("Status 5.0.0; 550 5.0.0 nothing specific") == (550, "5.0.0")
    assert codes_in("at 192.5.1.1, version 3.10.1, port :2525, 2.9.1") == (None, None)
