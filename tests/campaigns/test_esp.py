"""Mass email through an ESP's HTTP API (campaigns.sending.esp), against local servers that
implement Postmark's, Mailgun's, SendGrid's and Amazon SES's documented send endpoints
(tests/esp_servers.py), anymail pointed at them by the source's API base URL. The real job
(run_send_job) sends; on SQLite and PostgreSQL."""

import base64
import json
import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from campaigns.authoring.trial_send import send_test
from campaigns.models import CampaignLogRecord, DomainDeferral, EmailQueueItem, MassEmail
from campaigns.sending import esp, esp_pool
from campaigns.sending.deferrals import DomainBackoff
from campaigns.sending.job import run_send_job
from campaigns.sending.portion import Portion
from campaigns.sending.report import SendReport
from crm import secrets
from crm.admin.mail_settings import OutboundEmailSettingsForm
from crm.models import EmailAccount, OutboundEmailSettings
from tests.esp_servers import REFUSAL_WORDS, SERVERS, configure
from tests.factories import (
    EmailTemplateFactory,
    MassEmailFactory,
    PendingQueueItemFactory,
    UserFactory,
    group_named,
)

Status = EmailQueueItem.Status
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]
TEMPLATE = '<p>Dear {Person.name},</p><p><a href="https://shop.example.com/offer">Our offer</a></p>'


@pytest.fixture(params=sorted(SERVERS))
def server(request):
    server = SERVERS[request.param]().start()
    configure(OutboundEmailSettings.load(), server)
    yield server
    server.stop()


@pytest.fixture
def postmark():
    server = SERVERS["postmark"]().start()
    configure(OutboundEmailSettings.load(), server)
    yield server
    server.stop()


def queue(count: int, **fields) -> MassEmail:
    template = EmailTemplateFactory(subject="Hello {Person.firstName}", body_html=TEMPLATE)
    mass_email = MassEmailFactory(
        status=MassEmail.Status.IN_PROCESS, email_template=template, **fields
    )
    PendingQueueItemFactory.create_batch(count, mass_email=mass_email)
    return mass_email


def items_of(mass_email: MassEmail) -> list[EmailQueueItem]:
    return list(mass_email.queue_items.select_related("email_address", "contact").order_by("id"))


def test_every_recipient_gets_its_own_message_and_the_esp_message_id_is_kept(server, limits):
    mass_email = queue(4)

    report = run_send_job()

    assert report.sent == 4
    items = items_of(mass_email)
    assert all(item.status == Status.SENT and item.attempts == 1 for item in items)
    assert len(server.received) == 4
    ids = {item.esp_message_id for item in items}
    assert len(ids) == 4 and ids == {r.message_id for r in server.received}
    unsubscribes, links = set(), set()
    for item in items:
        (got,) = server.to(item.email_address.address)
        assert got.message_id == item.esp_message_id
        assert got.subject == f"Hello {item.contact.first_name}"
        assert f"Dear {item.contact.first_name}" in got.html
        headers = {name.lower(): value for name, value in got.headers.items()}
        assert headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
        unsubscribe = headers["list-unsubscribe"].strip("<>")
        unsubscribes.add(unsubscribe)
        # The opt-out link in the body is this recipient's own, as in its header.
        token = re.search(r"/t/u/([^/]+)/", unsubscribe).group(1)
        assert f"/t/u/{token}/" in got.html
        links |= set(re.findall(r'href="([^"]*/c/[^"]*)"', got.html)) or {got.html}
    assert len(unsubscribes) == 4  # nobody's link is anybody else's
    assert len(links) >= 4
    sent_log = CampaignLogRecord.objects.filter(action="sent", campaign=mass_email.campaign)
    assert sent_log.count() == 4
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.COMPLETE


def test_a_wrong_api_key_stops_the_source_and_sends_nothing(server, limits):
    configure(OutboundEmailSettings.load(), server, key="wrong-key")
    mass_email = queue(3)

    report = run_send_job()

    assert report.sent == 0 and report.configuration_errors
    assert server.received == []
    items = items_of(mass_email)
    assert all(item.status == Status.PENDING and item.attempts == 0 for item in items)
    assert "API key" in report.configuration_errors[0]
    mass_email.refresh_from_db()
    assert mass_email.status == MassEmail.Status.IN_PROCESS


def test_one_recipient_refused_fails_alone_with_the_esps_words(server, limits):
    mass_email = queue(3)
    refused = items_of(mass_email)[1]
    server.refused.add(refused.email_address.address.lower())

    report = run_send_job()

    assert report.sent == 2
    refused.refresh_from_db()
    assert refused.status == Status.FAILED
    assert REFUSAL_WORDS[server.name] in refused.last_error
    others = [item for item in items_of(mass_email) if item.pk != refused.pk]
    assert all(item.status == Status.SENT and item.esp_message_id for item in others)


def test_a_429_with_retry_after_defers_the_message_and_the_rest_waits(server, limits):
    mass_email = queue(3)
    retry_after = {"Retry-After": "3600"}
    if server.name == "amazon_ses":
        retry_after["x-amzn-ErrorType"] = "TooManyRequestsException"
    server.script.append((429, retry_after, {"message": "Too many requests"}))
    before = timezone.now()

    report = run_send_job()

    assert report.sent == 0 and not report.configuration_errors
    items = items_of(mass_email)
    assert all(item.status == Status.PENDING for item in items)
    (deferred,) = [item for item in items if item.attempts == 1]
    assert "429" in deferred.last_error
    # Retry-After (an hour) is longer than the first backoff (10 minutes): it wins.
    assert deferred.next_attempt_at >= before + timedelta(seconds=3600)
    untried = [item for item in items if item.pk != deferred.pk]
    assert all(item.attempts == 0 and item.next_attempt_at is None for item in untried)
    assert server.received == []


def test_a_deferred_call_is_about_the_esp_not_the_recipients_domain(server, limits):
    """A 503 to a call says the ESP cannot take anything now, whoever it is for: its messages
    are deferred, but their domain is not listed as deferring and its other messages of the
    run are not held back."""
    OutboundEmailSettings.objects.update(connections=1)
    first, second = queue(3), queue(3)  # one call each, every recipient @example.com
    server.script.append((503, {}, {"message": "Service Unavailable"}))

    report = run_send_job()

    items = items_of(first) + items_of(second)
    deferred = [item for item in items if item.status == Status.PENDING]
    assert len(deferred) == 3 and all(item.attempts == 1 for item in deferred)
    assert all("503" in item.last_error for item in deferred)
    assert report.sent == 3 and report.waiting == 0
    assert not DomainDeferral.objects.exists()


def test_a_short_retry_after_pauses_then_sends_the_rest(postmark, limits):
    mass_email = queue(3)
    postmark.script.append((429, {"Retry-After": "0.2"}, {"Message": "Rate limit exceeded"}))

    report = run_send_job()

    assert report.sent == 2
    items = items_of(mass_email)
    (deferred,) = [item for item in items if item.status == Status.PENDING]
    assert deferred.attempts == 1 and "Rate limit exceeded" in deferred.last_error


def test_a_timeout_after_the_esp_accepted_is_sent_again_at_least_once(
    postmark, limits, monkeypatch
):
    """The ESP took the message but answered too late: the item is deferred, and sent again at
    its next attempt (at-least-once, docs/delivery.md); the ESP received it twice."""
    monkeypatch.setattr(esp, "TIMEOUT", 0.3)
    postmark.delay = 1.0
    mass_email = queue(1)
    (item,) = items_of(mass_email)

    run_send_job()

    item.refresh_from_db()
    assert item.status == Status.PENDING and item.attempts == 1
    assert "did not answer in time" in item.last_error
    assert len(postmark.to(item.email_address.address)) == 1  # it did arrive

    postmark.delay = 0
    run_send_job(now=item.next_attempt_at + timedelta(seconds=1))

    item.refresh_from_db()
    assert item.status == Status.SENT and item.attempts == 2
    assert len(postmark.to(item.email_address.address)) == 2
    assert item.esp_message_id == postmark.to(item.email_address.address)[-1].message_id


def test_the_esp_unreachable_is_a_server_problem(limits):
    server = SERVERS["postmark"]()  # never started: nothing listens on its port
    configure(OutboundEmailSettings.load(), server)
    mass_email = queue(2)

    report = run_send_job()

    assert report.sent == 0 and report.problems and not report.configuration_errors
    items = items_of(mass_email)
    assert all(item.status == Status.PENDING and item.attempts == 0 for item in items)


def test_a_group_account_sends_through_its_own_esp(limits):
    mailgun = SERVERS["mailgun"]().start()
    try:
        account = EmailAccount.objects.create(
            name="News", email_address="news@example.com", use_smtp=True
        )
        configure(account, mailgun)
        mass_email = queue(2, smtp_account=account)

        report = run_send_job()

        assert report.sent == 2 and len(mailgun.received) == 2
        ids = [item.esp_message_id for item in items_of(mass_email)]
        assert all(message_id.endswith("@mg.example.com>") for message_id in ids)
    finally:
        mailgun.stop()


def test_a_test_send_goes_through_the_api(server):
    mass_email = MassEmailFactory(
        status=MassEmail.Status.DRAFT,
        email_template=EmailTemplateFactory(subject="Trial", body_html=TEMPLATE),
    )

    (result,) = send_test(mass_email, addresses=["trial@example.org"])

    assert result.sent, result.error
    (got,) = server.to("trial@example.org")
    assert got.subject == "Trial"
    item = mass_email.queue_items.get(is_test=True)
    assert item.status == Status.SENT and item.esp_message_id == got.message_id


def test_a_rate_limit_takes_one_slot_per_message(postmark, limits):
    source = OutboundEmailSettings.load()
    source.messages_per_second = 1000
    source.save()
    pool = esp_pool.ApiPool(source, DomainBackoff())
    taken = []
    real = pool.limit.take
    pool.limit.take = lambda block=True: taken.append(block) or real(block)
    mass_email = queue(3)
    report = SendReport()
    Portion(mass_email, pool, limits, report, timezone.now()).send()
    pool.close()

    assert report.sent == 3 and taken == [True, True, True]


def test_an_esp_webhook_event_finds_the_item_by_the_esp_message_id(
    client, postmark, limits, settings
):
    mass_email = queue(1)
    run_send_job()
    (item,) = items_of(mass_email)
    secret = base64.b64encode(settings.ANYMAIL["WEBHOOK_SECRET"].encode()).decode()
    bounce = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": item.esp_message_id,  # no metadata: only the id names the item
        "Email": item.email_address.address,
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "BouncedAt": "2026-12-05T19:00:00Z",
    }

    response = client.post(
        "/anymail/postmark/tracking/",
        data=json.dumps(bounce),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {secret}",
    )

    assert response.status_code == 200
    bounced = CampaignLogRecord.objects.filter(queue_item=item, action="bounced")
    assert list(bounced.values_list("bounce_type", flat=True)) == ["hard"]


def test_the_api_key_is_encrypted_at_rest_and_never_shown_again(postmark):
    table = OutboundEmailSettings._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT esp_api_key_encrypted FROM {table} WHERE id = 1")
        (stored,) = cursor.fetchone()
    assert stored and postmark.key not in stored
    assert secrets.decrypt(stored) == postmark.key
    form = OutboundEmailSettingsForm(instance=OutboundEmailSettings.load())
    assert postmark.key not in form.as_p() and stored not in form.as_p()


@pytest.mark.parametrize(
    ("method", "missing"),
    [
        ("postmark", {"esp_api_key"}),
        ("mailgun", {"esp_api_key", "esp_domain", "esp_region"}),
        ("sendgrid", {"esp_api_key"}),
        ("amazon_ses", {"esp_api_key", "esp_access_key_id", "esp_region"}),
    ],
)
def test_an_esp_method_requires_its_credentials(method, missing):
    row = OutboundEmailSettings.load()
    data = {
        "smtp_host": "",
        "smtp_port": 25,
        "smtp_security": "none",
        "connections": 10,
        "messages_per_session": 0,
        "sending_method": method,
    }
    form = OutboundEmailSettingsForm(data, instance=row)
    assert not form.is_valid()
    assert missing <= set(form.errors)

    data |= {"esp_api_key": "k", "esp_domain": "mg.example.com", "esp_access_key_id": "AKIA1"}
    data["esp_region"] = "eu" if method != "amazon_ses" else "eu-west-1"
    form = OutboundEmailSettingsForm(data, instance=row)
    assert form.is_valid(), form.errors
    form.save()
    row.refresh_from_db()
    assert row.esp_api_key == "k" and row.esp_api_key_encrypted != "k"


# Postmark's /email/batch: whole messages, each its own, up to 500 in one call.
@pytest.fixture
def postmark_batch(postmark):
    """One connection: the whole chunk goes to Postmark in one batch call."""
    OutboundEmailSettings.objects.update(connections=1)
    return postmark


def test_postmark_takes_the_chunk_in_one_batch_call_each_message_its_own(postmark_batch, limits):
    mass_email = queue(5)

    report = run_send_job()

    assert report.sent == 5 and postmark_batch.batches == [5]
    items = items_of(mass_email)
    for item in items:
        (got,) = postmark_batch.to(item.email_address.address)
        assert got.message_id == item.esp_message_id and item.status == Status.SENT
        assert got.subject == f"Hello {item.contact.first_name}"
        token = re.search(r"/t/u/([^/]+)/", got.headers["List-Unsubscribe"]).group(1)
        assert f"/t/u/{token}/" in got.html
        assert got.metadata["massmail_item"] == got.headers["X-Queue-Item-Id"]
    assert len({got.headers["List-Unsubscribe"] for got in postmark_batch.received}) == 5


def test_one_recipient_refused_inside_a_postmark_batch(postmark_batch, limits):
    mass_email = queue(3)
    refused = items_of(mass_email)[1]
    postmark_batch.refused.add(refused.email_address.address.lower())

    report = run_send_job()

    assert postmark_batch.batches == [3] and report.sent == 2
    refused.refresh_from_db()
    assert refused.status == Status.FAILED and "marked as inactive" in refused.last_error
    bounced = CampaignLogRecord.objects.filter(queue_item=refused, action="bounced")
    assert bounced.exists()
    others = [item for item in items_of(mass_email) if item.pk != refused.pk]
    assert all(item.status == Status.SENT and item.esp_message_id for item in others)


def test_a_whole_postmark_batch_refused_for_its_key_stops_the_source(postmark_batch, limits):
    configure(OutboundEmailSettings.load(), postmark_batch, key="revoked")
    limits.max_per_batch = None
    mass_email = queue(250)  # three chunks: the source stops at the first

    report = run_send_job()

    assert postmark_batch.batches == [100] and postmark_batch.received == []
    assert (
        report.configuration_errors
        and "The Server Token you provided was invalid" in (report.configuration_errors[0])
    )
    assert all(i.status == Status.PENDING and i.attempts == 0 for i in items_of(mass_email))


def test_a_429_to_a_postmark_batch_defers_every_message_of_it(postmark_batch, limits):
    mass_email = queue(3)
    postmark_batch.script.append((429, {"Retry-After": "3600"}, {"Message": "Rate limited"}))
    before = timezone.now()

    run_send_job()

    items = items_of(mass_email)
    assert all(i.status == Status.PENDING and i.attempts == 1 for i in items)
    assert all(i.next_attempt_at >= before + timedelta(seconds=3600) for i in items)


def test_a_timeout_after_postmark_accepted_a_batch_sends_it_again(
    postmark_batch, limits, monkeypatch
):
    monkeypatch.setattr(esp, "TIMEOUT", 0.3)
    postmark_batch.delay = 1.0
    mass_email = queue(2)

    run_send_job()

    items = items_of(mass_email)
    assert all(i.status == Status.PENDING and i.attempts == 1 for i in items)
    assert len(postmark_batch.received) == 2  # the ESP has them: at-least-once follows

    postmark_batch.delay = 0
    run_send_job(now=max(i.next_attempt_at for i in items) + timedelta(seconds=1))

    assert all(i.status == Status.SENT and i.attempts == 2 for i in items_of(mass_email))
    assert len(postmark_batch.received) == 4


def test_with_a_rate_each_message_is_its_own_call(postmark_batch, limits):
    OutboundEmailSettings.objects.update(messages_per_second=1000)
    queue(3)

    report = run_send_job()

    assert report.sent == 3 and postmark_batch.batches == []  # three single /email calls
    assert postmark_batch.requests == 3


def test_the_settings_test_email_goes_through_the_api(client, server):
    user = UserFactory(is_staff=True, email="staff@example.com")
    user.groups.add(group_named("Administrators"))
    client.force_login(user)
    url = reverse("admin:crm_outboundemailsettings_send_test_email", args=[1])

    response = client.post(url, {"to_address": "check@example.org"}, follow=True)

    assert "The test email was sent to check@example.org" in response.content.decode()
    (got,) = server.to("check@example.org")
    assert got.subject == "Test email from Mass Email"

    configure(OutboundEmailSettings.load(), server, key="wrong-key")
    response = client.post(url, {"to_address": "check@example.org"}, follow=True)
    assert "The test email was not sent" in response.content.decode()
    assert len(server.to("check@example.org")) == 1


def test_an_unexpected_error_in_a_call_leaves_its_messages_in_doubt_and_the_rest_goes_on(
    postmark, limits, monkeypatch
):
    # send_batch answers for every message whatever happens; should it raise all the same,
    # each message must still settle (or the chunk would wait forever), and as one that may
    # have gone out: sent again, not failed.
    real = esp.EspTransport.send_batch
    calls = []

    def first_breaks(self, messages):
        calls.append(len(messages))
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return real(self, messages)

    monkeypatch.setattr(esp.EspTransport, "send_batch", first_breaks)
    mass_email = queue(3)

    report = run_send_job()  # returns: no message is left unsettled

    items = items_of(mass_email)
    in_doubt = [item for item in items if item.status == Status.PENDING]
    assert len(in_doubt) == calls[0] and "RuntimeError: a bug" in in_doubt[0].last_error
    assert report.failed == 0 and report.retried == calls[0]
    assert report.sent == 3 - calls[0] and len(postmark.received) == 3 - calls[0]


@pytest.fixture(params=["amazon_ses", "postmark"])
def batch_server(request):
    """An ESP whose batch call answers for each message in an entry of its own."""
    server = SERVERS[request.param]().start()
    configure(OutboundEmailSettings.load(), server)
    yield server
    server.stop()


def test_a_malformed_entry_leaves_its_call_in_doubt_and_the_other_threads_go_on(
    batch_server, limits
):
    """One entry of the first batch call's answer is not one: that call's messages are
    deferred (the ESP may have them), and the two threads send the others."""
    OutboundEmailSettings.objects.update(connections=2)
    mass_email = queue(6)
    first = items_of(mass_email)[0]
    batch_server.malformed.add(first.email_address.address.lower())

    report = run_send_job()

    items = items_of(mass_email)
    doubt, others = items[:3], items[3:]  # the first thread's share: its first call
    assert all(item.status == Status.PENDING and item.attempts == 1 for item in doubt)
    assert all("could not be read" in item.last_error for item in doubt)
    assert report.sent == 3 and all(item.status == Status.SENT for item in others)
    assert len(batch_server.received) == 6 and not report.problems


def test_an_esp_outage_stops_the_source_after_three_deferred_calls(limits):
    sendgrid = SERVERS["sendgrid"]().start()
    try:
        configure(OutboundEmailSettings.load(), sendgrid)
        # With a rate, each message is a call of its own (not one batch call for all eight).
        OutboundEmailSettings.objects.update(connections=1, messages_per_second=1000)
        unavailable = (503, {}, {"errors": [{"message": "Service Unavailable"}]})
        sendgrid.script += [unavailable] * 5
        mass_email = queue(8)

        report = run_send_job()

        items = items_of(mass_email)
        deferred = [item for item in items if item.attempts == 1]
        assert len(deferred) == 3 and all(item.status == Status.PENDING for item in deferred)
        untried = [item for item in items if item.attempts == 0]
        assert len(untried) == 5 and all(item.status == Status.PENDING for item in untried)
        assert any("3 calls in a row" in problem for problem in report.problems)
        assert sendgrid.requests == 3
    finally:
        sendgrid.stop()


def test_a_sendgrid_event_finds_the_item_by_the_anymail_id_it_was_sent_with(client, limits):
    sendgrid = SERVERS["sendgrid"]().start()
    try:
        configure(OutboundEmailSettings.load(), sendgrid)
        mass_email = queue(1)
        run_send_job()
    finally:
        sendgrid.stop()
    (item,) = items_of(mass_email)
    (got,) = sendgrid.received
    assert got.metadata["anymail_id"] == item.esp_message_id  # what SendGrid echoes back
    secret = base64.b64encode(django_settings.ANYMAIL["WEBHOOK_SECRET"].encode()).decode()
    event = {
        "email": item.email_address.address,
        "timestamp": 1764961200,
        "event": "bounce",
        "type": "bounce",
        "status": "5.1.1",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
        "sg_event_id": "sg-event-1",
        "sg_message_id": "sg-message-1.filter0001",
        "anymail_id": item.esp_message_id,  # no massmail_item: only the id names the item
    }

    response = client.post(
        "/anymail/sendgrid/tracking/",
        data=json.dumps([event]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {secret}",
    )

    assert response.status_code == 200
    bounced = CampaignLogRecord.objects.filter(queue_item=item, action="bounced")
    assert list(bounced.values_list("bounce_type", flat=True)) == ["hard"]


def test_the_queue_admin_finds_an_item_by_its_esp_message_id(client, postmark, limits):
    user = UserFactory(is_staff=True, email="staff@example.com")
    user.groups.add(group_named("Administrators"))
    client.force_login(user)
    mass_email = queue(2)
    run_send_job()
    first, second = items_of(mass_email)

    url = reverse("admin:campaigns_emailqueueitem_changelist")
    response = client.get(url, {"q": first.esp_message_id})

    page = response.content.decode()
    assert response.status_code == 200
    assert first.email in page and second.email not in page
    detail = client.get(reverse("admin:campaigns_emailqueueitem_change", args=[first.pk]))
    assert first.esp_message_id in detail.content.decode()
