import pytest

from campaigns.models import MassEmailSettings
from tests.factories import SITE_URL, MarketerFactory

# The real IMAP server (Dovecot) fixtures: imap_server, imap_mailbox.
pytest_plugins = ["tests.imap_server"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def marketer_client(client):
    client.force_login(MarketerFactory())
    return client


@pytest.fixture
def mass_settings(settings):
    """Mass email settings whose site URL (and SITE_URL) is SITE_URL, for links in emails."""
    settings.SITE_URL = SITE_URL
    row = MassEmailSettings.load()
    row.site_url = SITE_URL
    row.save()
    return row
