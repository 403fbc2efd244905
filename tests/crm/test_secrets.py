import pytest

from crm import secrets
from crm.models import EmailAccount

OLD_KEY = "old-secret-key-" + "x" * 40
NEW_KEY = "new-secret-key-" + "y" * 40


def test_it_encrypts_and_decrypts():
    ciphertext = secrets.encrypt("hunter2-but-longer")

    assert "hunter2" not in ciphertext
    assert secrets.decrypt(ciphertext) == "hunter2-but-longer"
    assert secrets.encrypt("") == "" and secrets.decrypt("") == ""


def test_it_reads_old_secrets_after_a_key_rotation(settings):
    settings.SECRET_KEY = OLD_KEY
    ciphertext = secrets.encrypt("smtp-password")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]

    assert secrets.decrypt(ciphertext) == "smtp-password"


def test_it_refuses_a_secret_no_known_key_opens(settings):
    settings.SECRET_KEY = OLD_KEY
    ciphertext = secrets.encrypt("smtp-password")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, []

    with pytest.raises(secrets.SecretUnreadable):
        secrets.decrypt(ciphertext)


def test_it_keeps_account_passwords_encrypted_in_their_fields():
    account = EmailAccount(name="Bounces", email_address="b@example.com")
    account.smtp_password = "smtp-pass-123"
    account.imap_password = "imap-pass-456"

    assert "smtp-pass" not in account.smtp_password_encrypted
    assert "imap-pass" not in account.imap_password_encrypted
    assert (account.smtp_password, account.imap_password) == ("smtp-pass-123", "imap-pass-456")
