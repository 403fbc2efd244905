"""Hard, soft or blocked: one rule for every refusal (campaigns.sending.bounce_kinds)."""

import pytest

from campaigns.sending.bounce_kinds import bounce_kind, codes_in, kind_of_reply


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


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        # no proof that the address is dead (issue 21): soft, hard only after repeats
        ("551 User not local; please try <jo@example.net>", "soft"),
        ("550 5.2.1 <jo@example.org>: mailbox temporarily disabled", "soft"),
        ("550 [SUSPEND] Mailbox currently suspended", "soft"),
        ("550 Mailbox is frozen.", "soft"),
        ("550 5.2.1 The user you are trying to contact is receiving mail at a rate that", "soft"),
        ("550 Destinatario desconocido o mailbox lleno", "soft"),
        ("550 Requested action not taken: mailbox unavailable", "soft"),
        ("554 5.4.4 Name service error for name=example.org: Malformed name server reply", "soft"),
        # what the user, mailbox or domain is, in words
        ("550 User [jo@example.org] does not exist", "hard"),
        ("554 Rcpt <jo@example.org> does not exist", "hard"),
        ("550 5.1.6 recipient no longer on server: jo@example.org", "hard"),
        ("550 5.7.1 No such user", "hard"),
        ("550 5.7.13 Disabled recipient address", "hard"),
        ("550 Unrouteable address", "hard"),
        ("521 5.3.2 System not accepting network messages", "hard"),
        ("550 L'adresse de messagerie n'existe pas.", "hard"),
        # a block of our server or our message, however it is coded
        (
            "550 5.1.1 <jo@example.org> - 192.0.2.1 has sent to too many recipients this hour",
            "blocked",
        ),
        ("550 5.1.1 RCP-P2 Refused due to recipient preferences", "blocked"),
        (
            "451 4.7.650 The mail server has been temporarily rate limited due to IP reputation",
            "blocked",
        ),
        ("550 5.1.7 No such domain example.com", "blocked"),
        ("554 Connection refused: reverse DNS (PTR) required", "blocked"),
        # a full mailbox or a message too big, however it is coded
        ("550 5.1.1 RCPT TO:<jo@example.org> max message size exceeded", "soft"),
        ("552 5.1.1 sorry, mailbox jo@example.org is over quota temporarily (#5.1.1)", "soft"),
        ("550 5.7.0 maildir over quota", "soft"),
        ("552 Account(s) <jo@example.org> does not have enough space", "soft"),
    ],
)
def test_it_weighs_the_words_of_real_refusals(reply, kind):
    assert kind_of_reply(reply) == kind


def test_addresses_and_host_names_say_nothing_of_the_refusal():
    assert kind_of_reply("551 User not local; please try <policy@spam.example>") == "soft"
    assert kind_of_reply("550 Unknown user block@policy.example") == "hard"
    assert kind_of_reply("550 mailbox unavailable at mx.spamfilter.example[192.0.2.1]") == "soft"


def test_the_stage_of_a_refusal_without_words_decides():
    assert bounce_kind(550, None, "SMTP error from remote mail server after EHLO x: 550 No") == (
        "blocked"
    )
    assert bounce_kind(554, None, "554 Transaction failed (in reply to end of DATA command)") == (
        "blocked"
    )
    assert bounce_kind(550, None, "550 Rejected (in reply to RCPT TO command)") == "soft"
    assert bounce_kind(550, None, "550 Rejected", stage="mail") == "blocked"
    assert bounce_kind(552, None, "552 Sorry") == "soft"


def test_a_version_number_is_no_status():
    assert codes_in("Release 2.0.12 of Mailman: mta-5.5.0-3 delivered") == (None, None)
    assert codes_in("failed: 550-5.1.1 user unknown") == (550, "5.1.1")
    assert codes_in("error code 5.2.2.") == (None, "5.2.2")
    assert codes_in("after MAIL FROM:<n@example.com> SIZE=222: 550 No") == (550, None)


def test_replies_wrapped_over_lines_read_as_one():
    reply = "550 NN-222 Unfortunately, messages from 192.0.2.1 weren't sent.\n    Please contact"

    assert kind_of_reply(reply) == "blocked"
    assert bounce_kind(550, None, "550 Rejected (in\n    reply to MAIL FROM command)") == "blocked"


def test_trouble_on_the_receiving_side_is_soft_whatever_the_stage():
    reply = "554 5.4.14 Hop count exceeded - possible mail loop (failed after I sent the message)"

    assert kind_of_reply(reply) == "soft"
    assert kind_of_reply("DNS lookup failure: host mx.example.invalid not found") == "hard"
