"""Soak: 20,000 recipients through four real Celery workers (each with its SMTP sessions) and an
SMTP server that answers each recipient as real ones do, until the mass email is Complete.

1 % have international addresses (half accepted with SMTPUTF8, half refused), 2 % are deferred
at RCPT twice and then accepted, one domain defers everything, and the server is down for one
run in the middle. Then one run of four workers on 20,000, and the same with one worker
SIGKILLed in the middle. Marked `soak`: .ci/run runs it once, on PostgreSQL + Redis.
"""

import os
import time
from collections import Counter

import pytest
from django.utils import timezone

from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings
from crm.models import Contact, EmailAddress, JobRun
from targetlists.models import TargetList, TargetListEntry
from tests.factories import CampaignFactory, MassEmailFactory
from tests.integration.conftest import on_postgresql
from tests.integration.test_worker import (
    kill_one_of_four,
    pending_mass_email,
    run_job,
    sent_by_each_run,
)

pytestmark = [
    pytest.mark.soak,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not on_postgresql(), reason="the soak runs on PostgreSQL + Redis"),
]
Status = EmailQueueItem.Status
RECIPIENTS = int(os.environ.get("SOAK_RECIPIENTS", 20_000))
FOUR_WORKERS = ("main", "second", "third", "fourth")
MAX_RUNS = 60


def recipients() -> tuple[list[str], dict[str, list[str]]]:
    """The addresses of the soak in list order (the kinds mixed, as in a real list), and by how
    the server treats them."""
    addresses, groups = [], {"plain": [], "utf8_ok": [], "utf8_refused": []}
    groups.update(deferred_twice=[], deferring_domain=[])
    for n in range(RECIPIENTS):
        if n % 100 == 0:
            kind, address = "utf8_ok" if n % 200 == 0 else "utf8_refused", f"jösé{n}@exämple.com"
        elif n % 50 == 1:
            kind, address = "deferred_twice", f"busy{n}@example.org"
        elif n % 2000 == 7:
            kind, address = "deferring_domain", f"reader{n}@slowpost.example"
        else:
            kind, address = "plain", f"reader{n}@example.org"
        addresses.append(address)
        groups[kind].append(address)
    return addresses, groups


def mass_email_to(addresses: list[str]) -> MassEmail:
    limits = MassEmailSettings.load()
    limits.max_per_hour, limits.max_per_batch, limits.max_attempts = 1_000_000, RECIPIENTS // 3, 3
    limits.save()
    target_list = TargetList.objects.create(name="Soak")
    rows = EmailAddress.objects.bulk_create(
        EmailAddress(address=address, address_lower=address.lower()) for address in addresses
    )
    contacts = Contact.objects.bulk_create(
        Contact(first_name=f"Reader{n}", last_name="Doe", email_address=row)
        for n, row in enumerate(rows)
    )
    TargetListEntry.objects.bulk_create(
        TargetListEntry(target_list=target_list, contact=contact) for contact in contacts
    )
    mass_email = MassEmailFactory(campaign=CampaignFactory(), status=MassEmail.Status.PENDING)
    mass_email.target_lists.add(target_list)
    return mass_email


def smtp_form(address: str) -> str:
    local, _at, domain = address.rpartition("@")
    return f"{local}@{domain.encode('idna').decode()}".lower()


def test_twenty_thousand_real_recipients_each_end_sent_once_or_failed_with_a_reason(
    workers, smtp_server
):
    for name in FOUR_WORKERS:
        workers.ensure(name)
    addresses, groups = recipients()
    for address in groups["utf8_refused"]:
        smtp_server.refuse(smtp_form(address), "553 5.6.7 International address not accepted")
    for address in groups["deferred_twice"]:
        smtp_server.script(address, "451 4.7.1 Greylisted, try later", "452 4.2.2 Mailbox full")
    smtp_server.defer_domain("slowpost.example", "450 4.7.1 Too much mail from you, slow down")
    mass_email = mass_email_to(addresses)
    started, runs = time.monotonic(), 0

    while runs < MAX_RUNS:
        if runs == 2:
            smtp_server.go_down()  # down for one whole run in the middle
        run_job()
        runs += 1
        if runs == 3:
            smtp_server.come_up()
        mass_email.refresh_from_db()
        if mass_email.status == MassEmail.Status.COMPLETE:
            break
        # Time passes: deferred items come due (the backoff is minutes; the test is seconds).
        mass_email.queue_items.filter(next_attempt_at__gt=timezone.now()).update(
            next_attempt_at=timezone.now()
        )

    elapsed = time.monotonic() - started
    for run in JobRun.objects.filter(job__startswith="Send Mass Emails").order_by("started_at"):
        print(f"soak {run.job}: {run.summary}")
    items = list(mass_email.queue_items.select_related("email_address"))
    states = Counter(item.status for item in items)
    print(f"soak: {len(items)} recipients, {runs} runs, {elapsed:.0f} s, {dict(states)}")
    waiting = mass_email.queue_items.exclude(status__in=[Status.SENT, Status.FAILED])
    sample = waiting.values("email", "status", "attempts", "next_attempt_at", "last_error")[:3]
    assert mass_email.status == MassEmail.Status.COMPLETE, (runs, states, list(sample))
    received = smtp_server.received
    for item in items:
        sent_as = smtp_form(item.email_address.address)
        if item.status == Status.SENT:
            assert received[sent_as] == 1, item.email_address.address
        else:
            assert item.status == Status.FAILED and item.last_error, item.email_address.address
            assert received[sent_as] == 0
    failed = {item.email_address.address for item in items if item.status == Status.FAILED}
    assert failed == set(groups["utf8_refused"]) | set(groups["deferring_domain"])
    assert smtp_server.total == len(addresses) - len(failed)  # nobody twice


def test_four_workers_send_twenty_thousand_each_exactly_once_each_a_real_share(
    workers, smtp_server
):
    for name in FOUR_WORKERS:
        workers.ensure(name)
    mass_email, addresses = pending_mass_email(RECIPIENTS)
    started = time.monotonic()

    run_job()

    elapsed = time.monotonic() - started
    shares = sorted(sent_by_each_run(), reverse=True)
    print(f"soak: one run, four workers, {RECIPIENTS} in {elapsed:.0f} s, shares {shares}")
    assert Counter(smtp_server.received[address] for address in addresses) == {1: RECIPIENTS}
    assert smtp_server.total == RECIPIENTS
    assert len([share for share in shares if share >= RECIPIENTS // 20]) == 4
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE


def test_one_of_four_workers_killed_at_twenty_thousand_duplicates_at_most_its_chunks(
    workers, smtp_server
):
    kill_one_of_four(workers, smtp_server, RECIPIENTS)
