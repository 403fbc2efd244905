"""Four `manage.py run_automations` processes on 10,000 enrolments, one SIGKILLed while it
is inside a step's transaction: after the lease, each person got each email exactly once
(PostgreSQL)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
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


def start_worker(name: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PGAPPNAME": name,  # libpq names the worker's sessions, so the test can tell them apart
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

    names = [f"automation-worker-{n}" for n in range(4)]
    workers = {name: start_worker(name, tmp_path / f"{name}.log") for name in names}
    killed = inside_a_step(set(names))
    workers[killed].send_signal(signal.SIGKILL)
    for worker in workers.values():
        worker.wait(timeout=300)
    assert workers[killed].returncode == -signal.SIGKILL
    others = [name for name in names if name != killed]
    assert [workers[name].returncode for name in others] == [0, 0, 0], [
        (tmp_path / f"{name}.log").read_text() for name in others
    ]

    # What the killed worker had claimed is taken up once its lease is over.
    engine.tick(timezone.now() + 2 * engine.LEASE)

    assert not Enrolment.objects.filter(automation=made, status="active").exists()
    assert StepRun.objects.filter(enrolment__automation=made).count() == 2 * COUNT
    per_person = EmailQueueItem.objects.filter(mass_email__campaign=made.campaign)
    assert per_person.count() == 2 * COUNT
    assert per_person.values("contact_id").distinct().count() == COUNT


def inside_a_step(names: set[str], timeout: float = 120) -> str:
    """The name of a worker whose open transaction holds automation rows it has locked or
    written (a claim, its StepRuns, its queue items): a kill now lands in the middle of a step."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT application_name FROM pg_stat_activity"
                " WHERE application_name = ANY(%s) AND backend_xid IS NOT NULL"
                " AND query ILIKE '%%automation_%%'",
                [sorted(names)],
            )
            row = cursor.fetchone()
            if row:
                return row[0]
            time.sleep(0.005)
    raise AssertionError(f"no worker was seen inside a step in {timeout} s")
