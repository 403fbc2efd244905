"""Test overrides: fast hashing, mail kept in memory unless a test points at a real server.

Each test run gets its own scratch space, so two runs at once (two clones, helpers working in
parallel) never share files, a database or broker keys: MASSMAIL_TEST_RUN names the run (made
here and inherited by the workers a run starts), VAR_DIR is a fresh temporary folder removed at
the end of the run (tests/conftest.py), the PostgreSQL test database and the Redis keys carry
the run's name.
"""

import os
import secrets
import tempfile
from pathlib import Path

from settings import *  # noqa: F403
from settings import CELERY_BROKER_URL, DATABASES, filesystem_broker_options

# The settings package is imported before this module runs, so what depends on VAR_DIR is set
# again here.
TEST_RUN = os.environ.setdefault("MASSMAIL_TEST_RUN", secrets.token_hex(4))
if "VAR_DIR" not in os.environ:
    os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix=f"massmail-test-{TEST_RUN}-")
    os.environ["MASSMAIL_TEST_OWNS_VAR_DIR"] = "1"  # this run made it, so this run removes it
VAR_DIR = Path(os.environ["VAR_DIR"])
MEDIA_ROOT = VAR_DIR / "media"
SMTP_CAPTURE_DIR = VAR_DIR / "mail"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that a real Celery worker in integration tests sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{TEST_RUN}"}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR)
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Two runs on one Redis database must not take each other's tasks.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"massmail-test-{TEST_RUN}:"}
TRACKING_BUFFER_KEY_PREFIX = f"massmail-test-{TEST_RUN}:tracking"
SENDING_RATE_KEY_PREFIX = f"massmail-test-{TEST_RUN}:sending-rate:"
API_REDIS_KEY_PREFIX = f"massmail-test-{TEST_RUN}:api"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Tracking tests assert rows right after a request; tests/tracking/test_buffer.py opts in.
TRACKING_BUFFER_URL = ""
TRACKING_BUFFER_FLUSH_MS = 0  # buffered hits reach Redis in their request; a test opts in

# ESP webhooks (tracking.esp) are mounted, with the secrets the tests post with.
ANYMAIL = {
    "WEBHOOK_SECRET": "esp-user:esp-test-secret",
    "MAILGUN_WEBHOOK_SIGNING_KEY": "mailgun-test-signing-key",
}
