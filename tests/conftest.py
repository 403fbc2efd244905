import os
import shutil

import pytest
from django.conf import settings

from campaigns.models import MassEmailSettings
from tests.factories import SITE_URL, MarketerFactory

# The real IMAP server (Dovecot) fixtures: imap_server, imap_mailbox.
pytest_plugins = ["tests.imap_server"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request in Spanish leaves Spanish active in
    its thread (LocaleMiddleware), and the next test's messages would be Spanish."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd, in-process) that the system settings point at; it counts
    what it receives. The integration and campaigns tests have their own variants."""
    from tests.integration.smtp_server import SmtpServer, configure_system_smtp

    server = SmtpServer().start()
    configure_system_smtp(server.port)
    yield server
    server.stop()


@pytest.fixture
def marketer_client(client):
    client.force_login(MarketerFactory())
    return client


@pytest.fixture
def limits():
    """Sending limits that keep out of a test's way: 1,000 an hour, no batch limit, three
    attempts (a test of the limits themselves sets its own)."""
    row = MassEmailSettings.load()
    row.max_per_hour, row.max_per_batch, row.max_attempts = 1000, None, 3
    row.save()
    return row


@pytest.fixture
def mass_settings(settings):
    """Mass email settings whose site URL (and SITE_URL) is SITE_URL, for links in emails."""
    settings.SITE_URL = SITE_URL
    row = MassEmailSettings.load()
    row.site_url = SITE_URL
    row.save()
    return row


@pytest.hookimpl(trylast=True)  # after pytest-django has dropped the test databases
def pytest_sessionfinish(session, exitstatus):
    """Remove this run's scratch folder and Redis keys (settings/test.py made them its own)."""
    if os.environ.get("MASSMAIL_TEST_OWNS_VAR_DIR") == "1":
        shutil.rmtree(settings.VAR_DIR, ignore_errors=True)
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        import redis

        connection = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        keys = list(connection.scan_iter(match=f"massmail-test-{settings.TEST_RUN}:*"))
        if keys:
            connection.delete(*keys)
