"""One bad recipient never crashes, duplicates or stalls the rest: international addresses,
addresses SMTP cannot carry, and a portion that breaks, against a real SMTP server."""

from collections import Counter

import pytest
from django.db import connection

from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmail, MassEmailSettings
from campaigns.sending.job import run_recorded_send_job, run_send_job
from crm.models import EmailAddress, JobRun
from tests.factories import ContactFactory, MassEmailFactory, PendingQueueItemFactory
from tests.integration.smtp_server import SmtpServer, configure_system_smtp

Status = EmailQueueItem.Status
pytestmark = pytest.mark.django_db


def server(smtputf8: bool = True) -> SmtpServer:
    smtp = SmtpServer(smtputf8=smtputf8)
    smtp.start()
    configure_system_smtp(smtp.port)
    return smtp


@pytest.fixture
def ascii_only_server():
    smtp = server(smtputf8=False)
    yield smtp
    smtp.stop()


@pytest.fixture(autouse=True)
def limits():
    row = MassEmailSettings.load()
    row.max_per_hour, row.max_per_batch, row.max_attempts = 100_000, None, 3
    row.save()


def queue_to(addresses: list[str], mass_email: MassEmail | None = None) -> MassEmail:
    """Queue items for `addresses` stored as they are (bulk, like rows from before the checks)."""
    mass_email = mass_email or MassEmailFactory(status=MassEmail.Status.IN_PROCESS)
    rows = EmailAddress.objects.bulk_create(
        EmailAddress(address=address, address_lower=address.lower()) for address in addresses
    )
    for row in rows:
        contact = ContactFactory(email_address=row)
        PendingQueueItemFactory(mass_email=mass_email, contact=contact, email_address=row)
    return mass_email


def item_to(mass_email: MassEmail, address: str) -> EmailQueueItem:
    return mass_email.queue_items.get(email_address__address_lower=address.lower())


def test_an_international_domain_goes_out_as_its_a_label(smtp_server):
    mass_email = queue_to(["jose@exämple.com"])

    run_send_job()

    assert smtp_server.received["jose@xn--exmple-cua.com"] == 1
    (message,) = smtp_server.messages_to("jose@xn--exmple-cua.com")
    assert "jose@xn--exmple-cua.com" in message["To"]
    item = item_to(mass_email, "jose@exämple.com")
    assert item.status == Status.SENT
    assert CampaignLogRecord.objects.get(queue_item=item, action="sent").email == "jose@exämple.com"


def test_a_utf8_local_part_goes_out_with_smtputf8(smtp_server):
    mass_email = queue_to(["josé@exämple.com", "ann@example.org"])

    run_send_job()

    assert smtp_server.received["josé@xn--exmple-cua.com"] == 1
    assert "SMTPUTF8" in smtp_server.handler.mail_options["josé@xn--exmple-cua.com"]
    assert "SMTPUTF8" not in smtp_server.handler.mail_options["ann@example.org"]
    (data,) = [d for _f, r, d in smtp_server.handler.messages if r == "josé@xn--exmple-cua.com"]
    assert b"\r\nTo: " in data and "josé@xn--exmple-cua.com".encode() in data.split(b"\r\n\r\n")[0]
    assert item_to(mass_email, "josé@exämple.com").status == Status.SENT


def test_a_utf8_local_part_fails_alone_when_the_server_lacks_smtputf8(ascii_only_server):
    mass_email = queue_to(["ann@example.org", "josé@example.com", "bob@example.org"])

    report = run_send_job()

    item = item_to(mass_email, "josé@example.com")
    assert item.status == Status.FAILED
    assert "does not accept international addresses (SMTPUTF8)" in item.last_error
    assert ascii_only_server.received["ann@example.org"] == 1
    assert ascii_only_server.received["bob@example.org"] == 1
    assert report.sent == 2 and report.failed == 1
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("jose@exa mple.com", "not a valid domain"),
        ("jose@xn--a.com", "IDNA"),
        ("x" * 70 + "@example.com", "longer than 64"),
        ("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 60 + ".com", "too long"),
    ],
)
def test_an_address_smtp_cannot_carry_fails_alone_and_the_run_goes_on(smtp_server, address, words):
    if connection.vendor == "postgresql" and len(address) > 254:
        pytest.skip("PostgreSQL's varchar(254) cannot hold it; only SQLite can have it stored")
    others = [f"reader{n}@example.org" for n in range(250)]
    mass_email = queue_to(others[:100] + [address] + others[100:])

    report = run_send_job()

    bad = item_to(mass_email, address)
    assert bad.status == Status.FAILED and words in bad.last_error and bad.attempts == 0
    assert Counter(smtp_server.received[a] for a in others) == {1: 250}
    assert smtp_server.total == 250
    assert report.sent == 250 and report.failed == 1
    assert not mass_email.queue_items.filter(status=Status.SENDING).exists()
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE


def break_recording_of(mass_email: MassEmail) -> None:
    """A database that refuses to record this mass email's sent items (a trigger)."""
    table = EmailQueueItem._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_sent() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'the disk is on fire'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER refuse_sent BEFORE UPDATE ON {table} FOR EACH ROW WHEN "
                f"(NEW.status = 'sent' AND NEW.mass_email_id = {mass_email.pk}) "
                "EXECUTE FUNCTION refuse_sent()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER refuse_sent BEFORE UPDATE ON {table} WHEN NEW.status = 'sent' "
                f"AND NEW.mass_email_id = {mass_email.pk} "
                "BEGIN SELECT RAISE(ABORT, 'the disk is on fire'); END"
            )


def test_a_portion_that_breaks_releases_its_unsent_items_and_the_others_still_go(smtp_server):
    broken = queue_to([f"broken{n}@example.org" for n in range(150)])
    healthy = queue_to([f"healthy{n}@example.org" for n in range(30)])
    for n in (3, 40, 77):  # refused or deferred at RCPT: handed to SMTP, not delivered
        smtp_server.refuse(
            f"broken{n}@example.org", "550 5.1.1 No such user" if n % 2 else "451 Later"
        )
    break_recording_of(broken)

    report = run_recorded_send_job()

    assert healthy.queue_items.filter(status=Status.SENT).count() == 30
    # What the server accepted in the chunks handed to the sessions waits for the lease
    # (at-least-once); what it did not accept, or never got, is Pending again at once.
    items = broken.queue_items.select_related("email_address")
    accepted = {item.pk for item in items if smtp_server.received[item.email_address.address]}
    assert len(accepted) >= 97  # the first chunk of 100, less the three it refused
    assert set(items.filter(status=Status.SENDING).values_list("pk", flat=True)) == accepted
    assert items.filter(status=Status.PENDING).count() == 150 - len(accepted)
    assert not broken.queue_items.filter(status=Status.PENDING, claimed_at__isnull=False).exists()
    run = JobRun.objects.get(job="Send Mass Emails")
    assert run.status == JobRun.Status.FAILED
    assert "Traceback" in run.error and "the disk is on fire" in run.error
    assert "unexpected error" in report.summary()
