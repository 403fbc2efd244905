"""A Redis broker, plain or over TLS, is also where the tracking buffer and the sending rate's
slots go; another broker leaves them to the database."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
NAMES = ("SENDING_RATE_REDIS_URL", "TRACKING_BUFFER_URL")


def redis_settings_with(broker: str) -> list[str]:
    """The two settings as a fresh process sees them with CELERY_BROKER_URL=`broker`."""
    base = {k: v for k, v in os.environ.items() if k not in NAMES}
    code = (
        "import django; django.setup(); from django.conf import settings; "
        f"print(*(getattr(settings, name) or '-' for name in {NAMES!r}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "settings", "CELERY_BROKER_URL": broker},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return run.stdout.split()


@pytest.mark.parametrize(
    "broker", ["redis://127.0.0.1:6379/0", "rediss://user:secret@redis.example:6380/2"]
)
def test_a_redis_broker_takes_the_rate_and_the_buffer_too(broker):
    assert redis_settings_with(broker) == [broker, broker]


def test_another_broker_leaves_them_to_the_database():
    assert redis_settings_with("amqp://guest@127.0.0.1:5672//") == ["-", "-"]
