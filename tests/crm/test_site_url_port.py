"""`PORT=8111 make run` builds links on :8111 when SITE_URL is not set, and the demo follows."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from campaigns.models import MassEmailSettings
from crm.management.commands.run_product import follow_served_url, served_url

pytestmark = pytest.mark.django_db
ROOT = Path(settings.BASE_DIR)


def site_url_with(env: dict) -> str:
    """settings.SITE_URL as a fresh process sees it with `env`."""
    base = {k: v for k, v in os.environ.items() if k not in ("SITE_URL", "PORT")}
    code = (
        "import django; django.setup(); from django.conf import settings; print(settings.SITE_URL)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return run.stdout.strip()


def test_the_settings_follow_the_port_when_site_url_is_unset():
    assert site_url_with({"PORT": "8111"}) == "http://127.0.0.1:8111"
    assert site_url_with({}) == "http://127.0.0.1:8000"
    assert site_url_with({"PORT": "8111", "SITE_URL": "https://news.example.org/"}) == (
        "https://news.example.org"
    )


def test_the_stored_demo_url_follows_the_served_port():
    MassEmailSettings.objects.update_or_create(pk=1, defaults={"site_url": "http://127.0.0.1:8000"})
    url = served_url("0.0.0.0", 8111)

    assert url == "http://127.0.0.1:8111"
    assert follow_served_url(url) is True
    assert MassEmailSettings.load().base_url == url
    assert follow_served_url(url) is False


def test_a_real_address_an_administrator_set_is_kept():
    MassEmailSettings.objects.update_or_create(
        pk=1, defaults={"site_url": "https://news.example.org"}
    )

    assert follow_served_url("http://127.0.0.1:8111") is False
    assert MassEmailSettings.load().site_url == "https://news.example.org"
