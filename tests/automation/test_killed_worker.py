"""Four `manage.py run_automations` processes on 10,000 enrolments, one SIGKILLed while it
works: after the lease, each person got each email exactly once (PostgreSQL)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection  # noqa: F401  (read by the skipif condition)
from django.utils import timezone

from automation import engine
from automation.models import Enrolment, StepRun
from campaigns.models import EmailQueueItem
from crm.models import Contact, EmailAddress
from tests.automation.helpers import automation, send
from tests.integration.conftest import database_url

ROOT = Path(__file__).resolve().parents[2]
COUNT = 10_000

pytestmark = [
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'", reason="several workers at once need PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]


def start_worker(log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings.test",
        "DATABASE_URL": database_url(),
        "VAR_DIR": str(settings.VAR_DIR),
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_automations"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def test_a_worker_killed_in_the_middle_leaves_nobody_sent_twice_or_skipped(tmp_path):
    made = automation(send(), send())
    addresses = EmailAddress.objects.bulk_create(
        EmailAddress(address=f"p{n}@example.net", address_lower=f"p{n}@example.net")
        for n in range(COUNT)
    )
    people = Contact.objects.bulk_create(
        Contact(last_name=f"P{n}", email_address=address) for n, address in enumerate(addresses)
    )
    engine.add_by_hand(made, [("contact", p.pk) for p in people], timezone.now())

    workers = [start_worker(tmp_path / f"worker{n}.log") for n in range(4)]
    while not StepRun.objects.exists() and workers[0].poll() is None:
        pass  # until the first steps are written
    workers[0].send_signal(signal.SIGKILL)
    for worker in workers:
        worker.wait(timeout=300)
    assert workers[0].returncode == -signal.SIGKILL  # it was still at work when killed
    assert [w.returncode for w in workers[1:]] == [0, 0, 0], [
        (tmp_path / f"worker{n}.log").read_text() for n in range(1, 4)
    ]

    # What the killed worker had claimed is taken up once its lease is over.
    engine.tick(timezone.now() + 2 * engine.LEASE)

    assert not Enrolment.objects.filter(automation=made, status="active").exists()
    assert StepRun.objects.filter(enrolment__automation=made).count() == 2 * COUNT
    per_person = EmailQueueItem.objects.filter(mass_email__campaign=made.campaign)
    assert per_person.count() == 2 * COUNT
    assert per_person.values("contact_id").distinct().count() == COUNT
