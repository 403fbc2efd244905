"""The Dovecot fixture itself (tests/imap_server.py): a real IMAP server, one user, no TLS."""

import imaplib

import pytest

from tests.imap_server import ImapServer


def message(subject: str) -> bytes:
    return (
        b"From: mailer-daemon@example.test\r\n"
        b"To: bounces@example.test\r\n"
        b"Subject: " + subject.encode() + b"\r\n"
        b"\r\n"
        b"Delivery failed.\r\n"
    )


def test_appended_messages_are_listed_with_their_seen_flag(imap_mailbox: ImapServer):
    imap_mailbox.append(message("unread"))
    imap_mailbox.append(message("read"), seen=True)

    messages = imap_mailbox.messages()

    assert len(messages) == 2
    (first_uid, first_flags), (second_uid, second_flags) = messages
    assert first_uid < second_uid
    assert "\\Seen" not in first_flags
    assert "\\Seen" in second_flags


def test_a_plain_imaplib_client_logs_in_with_the_credentials(imap_mailbox: ImapServer):
    imap = imaplib.IMAP4(imap_mailbox.host, imap_mailbox.port)
    try:
        typ, _data = imap.login(imap_mailbox.username, imap_mailbox.password)
        assert typ == "OK"
        typ, data = imap.select("INBOX")
        assert typ == "OK"
        assert data == [b"0"]
    finally:
        imap.logout()


def test_a_wrong_password_is_refused(imap_mailbox: ImapServer):
    imap = imaplib.IMAP4(imap_mailbox.host, imap_mailbox.port)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            imap.login(imap_mailbox.username, "not-the-password")
    finally:
        imap.logout()


def test_clear_empties_every_folder(imap_mailbox: ImapServer):
    imap_mailbox.append(message("one"))
    imap_mailbox.append(message("two"), seen=True)
    imap_mailbox.append(message("three"), folder="Bounces")

    imap_mailbox.clear()

    assert imap_mailbox.messages() == []
    assert imap_mailbox.folders() == ["INBOX"]


def test_appending_to_a_missing_folder_creates_it(imap_mailbox: ImapServer):
    assert "Bounces" not in imap_mailbox.folders()

    imap_mailbox.append(message("bounce"), folder="Bounces")
    imap_mailbox.append(message("another bounce"), folder="Bounces", seen=True)

    assert "Bounces" in imap_mailbox.folders()
    assert [flags for _uid, flags in imap_mailbox.messages("Bounces")] == [set(), {"\\Seen"}]
    assert imap_mailbox.messages() == []


def test_each_test_starts_with_an_empty_mailbox(imap_mailbox: ImapServer):
    # The tests above left messages and a Bounces folder behind; imap_mailbox cleared them.
    assert imap_mailbox.messages() == []
    assert imap_mailbox.folders() == ["INBOX"]
