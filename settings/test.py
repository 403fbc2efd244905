"""Test overrides: fast hashing, mail kept in memory unless a test points at a real server."""

import os

os.environ.setdefault("VAR_DIR", "/tmp/massmail-test-var")

from settings import *  # noqa: E402,F403
from settings import DATABASES, VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = VAR_DIR / "media"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that a real Celery worker in integration tests sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

# Tracking tests assert rows right after a request; tests/tracking/test_buffer.py opts in.
TRACKING_BUFFER_URL = ""
TRACKING_BUFFER_FLUSH_MS = 0  # buffered hits reach Redis in their request; a test opts in

# ESP webhooks (tracking.esp) are mounted, with the secrets the tests post with.
ANYMAIL = {
    "WEBHOOK_SECRET": "esp-user:esp-test-secret",
    "MAILGUN_WEBHOOK_SIGNING_KEY": "mailgun-test-signing-key",
}
