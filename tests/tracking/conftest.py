"""Fixtures of the tracking tests: a real IMAP server (Dovecot) for the bounce mailboxes."""

from tests.imap_server import imap_mailbox, imap_server  # noqa: F401 (fixtures)
