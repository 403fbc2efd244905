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

os.environ.setdefault("MASSMAIL_TEST_RUN", secrets.token_hex(4))
if "VAR_DIR" not in os.environ:
    os.environ["VAR_DIR"] = tempfile.mkdtemp(
        prefix=f"massmail-test-{os.environ['MASSMAIL_TEST_RUN']}-"
    )
    os.environ["MASSMAIL_TEST_OWNS_VAR_DIR"] = "1"  # this run made it, so this run removes it

from settings import *  # noqa: E402,F403
from settings import CELERY_BROKER_URL, DATABASES, VAR_DIR  # noqa: E402

TEST_RUN = os.environ["MASSMAIL_TEST_RUN"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = VAR_DIR / "media"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that a real Celery worker in integration tests sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{TEST_RUN}"}
if CELERY_BROKER_URL.startswith("redis://"):
    # Two runs on one Redis database must not take each other's tasks.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"massmail-test-{TEST_RUN}:"}
TRACKING_BUFFER_KEY_PREFIX = f"massmail-test-{TEST_RUN}:tracking"

# Tracking tests assert rows right after a request; tests/tracking/test_buffer.py opts in.
TRACKING_BUFFER_URL = ""
TRACKING_BUFFER_FLUSH_MS = 0  # buffered hits reach Redis in their request; a test opts in

# ESP webhooks (tracking.esp) are mounted, with the secrets the tests post with.
ANYMAIL = {
    "WEBHOOK_SECRET": "esp-user:esp-test-secret",
    "MAILGUN_WEBHOOK_SIGNING_KEY": "mailgun-test-signing-key",
}
