"""SendGrid's, Mailgun's and Amazon SES's batch calls (campaigns.sending.esp_bulk): one call
carries many recipients through one template and each recipient's variables, and each receives
exactly the message SMTP would carry. Against local servers that implement each ESP's batch
endpoint and expand the variables as documented (tests/esp_servers.py); the real job sends; on
SQLite and PostgreSQL."""

import base64
import json
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from campaigns.authoring.rendering import CompiledMassEmail
from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmail
from campaigns.sending import esp
from campaigns.sending.job import run_send_job
from crm.models import OutboundEmailSettings
from tests.esp_servers import REFUSAL_WORDS, SERVERS, configure
from tests.factories import (
    ContactFactory,
    EmailAddressFactory,
    EmailTemplateFactory,
    MassEmailFactory,
    PendingQueueItemFactory,
)

Status = EmailQueueItem.Status
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]
SHARED_BODY_ESPS = ["amazon_ses", "mailgun", "sendgrid"]
TEMPLATE = (
    "<p>Dear {Person.name},</p>"
    '<p><a href="https://shop.example.com/offer">Our offer</a> '
    '<a href="https://shop.example.com/more">and more</a></p>'
)
NAMES = ["Ann", "Bob", "Chloé", "Dmitri", "Eve"]


@pytest.fixture(params=SHARED_BODY_ESPS)
def server(request):
    """The ESP's server, the source on one connection: the chunk goes in batch calls."""
    server = SERVERS[request.param]().start()
    configure(OutboundEmailSettings.load(), server)
    OutboundEmailSettings.objects.update(connections=1)
    yield server
    server.stop()


def queue(people: list[tuple[str, str]]) -> MassEmail:
    template = EmailTemplateFactory(subject="Hello {Person.firstName}", body_html=TEMPLATE)
    mass_email = MassEmailFactory(status=MassEmail.Status.IN_PROCESS, email_template=template)
    for name, address in people:
        contact = ContactFactory(
            first_name=name, email_address=EmailAddressFactory(address=address)
        )
        PendingQueueItemFactory(mass_email=mass_email, contact=contact)
    return mass_email


def people(count: int) -> list[tuple[str, str]]:
    return [(NAMES[n % len(NAMES)], f"reader{n}@example.com") for n in range(count)]


def items_of(mass_email: MassEmail) -> list[EmailQueueItem]:
    return list(mass_email.queue_items.select_related("email_address", "contact").order_by("id"))


def smtp_rendering(mass_email: MassEmail, item: EmailQueueItem) -> dict:
    """What SMTP carries to the item's recipient: subject, bodies and headers, as the API
    message is read from the same rendered bytes."""
    data = CompiledMassEmail.compile_variants(mass_email).render(item).data
    message = esp.as_api_message(data)
    html = next((body for body, kind in message.alternatives if kind == "text/html"), "")
    headers = {name.lower(): value for name, value in message.extra_headers.items()}
    return {"subject": message.subject, "text": message.body, "html": html, "headers": headers}


def received_as_sent(got) -> dict:
    headers = {name.lower(): value for name, value in got.headers.items()}
    headers = {name: headers[name] for name in headers if name != "x-metadata"}
    return {"subject": got.subject, "text": got.text, "html": got.html, "headers": headers}


def test_it_sends_the_chunk_in_one_call_each_recipient_exactly_their_smtp_message(server, limits):
    mass_email = queue(people(5))

    report = run_send_job()

    assert report.sent == 5 and server.batches == [5] and server.requests == 1
    for item in items_of(mass_email):
        (got,) = server.to(item.email_address.address)
        expected = smtp_rendering(mass_email, item)
        received = received_as_sent(got)
        assert received["subject"] == expected["subject"]
        assert received["text"] == expected["text"] and received["html"] == expected["html"]
        for name, value in expected["headers"].items():
            assert received["headers"][name] == value, name
        assert got.metadata["massmail_item"] == expected["headers"]["x-queue-item-id"]
        assert item.status == Status.SENT and item.esp_message_id == got.message_id
    ids = {item.esp_message_id for item in items_of(mass_email)}
    # SendGrid: each personalization's anymail_id; SES: each entry's MessageId; Mailgun
    # answers one id for the call.
    assert len(ids) == (1 if server.name == "mailgun" else 5)
    assert len({got.headers["List-Unsubscribe"] for got in server.received}) == 5


def test_a_whole_batch_refused_for_its_key_stops_the_source(server, limits):
    configure(OutboundEmailSettings.load(), server, key="revoked")
    mass_email = queue(people(4))

    report = run_send_job()

    assert server.requests == 1 and server.received == []
    assert report.configuration_errors and "API key" in report.configuration_errors[0]
    assert all(i.status == Status.PENDING and i.attempts == 0 for i in items_of(mass_email))


def test_one_recipient_refused_fails_alone_with_the_esps_words(server, limits):
    mass_email = queue(people(4))
    refused = items_of(mass_email)[1]
    server.refused.add(refused.email_address.address.lower())

    report = run_send_job()

    assert report.sent == 3
    refused.refresh_from_db()
    assert refused.status == Status.FAILED
    assert REFUSAL_WORDS[server.name] in refused.last_error
    others = [item for item in items_of(mass_email) if item.pk != refused.pk]
    assert all(item.status == Status.SENT and item.esp_message_id for item in others)
    if server.name == "amazon_ses":  # SES says which entry it refused: the batch stands
        assert server.batches == [4] and server.requests == 1
    else:  # the call refused as a whole: each message alone, so only that one fails
        assert server.requests == 1 + 4
    assert [got.to for got in server.received if got.to == refused.email] == []


def test_a_429_with_retry_after_defers_every_message_of_the_batch(server, limits):
    mass_email = queue(people(3))
    retry_after = {"Retry-After": "3600"}
    if server.name == "amazon_ses":
        retry_after["x-amzn-ErrorType"] = "TooManyRequestsException"
    server.script.append((429, retry_after, {"message": "Too many requests"}))
    before = timezone.now()

    report = run_send_job()

    assert report.sent == 0 and server.received == []
    items = items_of(mass_email)
    assert all(i.status == Status.PENDING and i.attempts == 1 for i in items)
    assert all(i.next_attempt_at >= before + timedelta(seconds=3600) for i in items)
    assert all("429" in i.last_error for i in items)


def test_a_timeout_after_the_esp_accepted_a_batch_sends_it_again(server, limits, monkeypatch):
    """The ESP took the batch but answered too late: every message of it is deferred and sent
    again at its next attempt (at-least-once, docs/delivery.md)."""
    monkeypatch.setattr(esp, "TIMEOUT", 0.3)
    server.delay = 1.0
    mass_email = queue(people(3))

    run_send_job()

    items = items_of(mass_email)
    assert all(i.status == Status.PENDING and i.attempts == 1 for i in items)
    assert all("did not answer in time" in i.last_error for i in items)
    assert len(server.received) == 3 and server.batches == [3]

    server.delay = 0
    run_send_job(now=max(i.next_attempt_at for i in items) + timedelta(seconds=1))

    assert all(i.status == Status.SENT and i.attempts == 2 for i in items_of(mass_email))
    assert len(server.received) == 6 and server.batches == [3, 3]


# A name the batch's template cannot carry, so that its message goes in a call of its own after
# the batch call: several calls from one thread's share.
ALONE = {"mailgun": "100%recipient.v0%", "amazon_ses": "O'Brien"}


@pytest.fixture(params=sorted(ALONE))
def calls_server(request):
    """An ESP's server, one connection, and a name whose message goes alone there."""
    server = SERVERS[request.param]().start()
    configure(OutboundEmailSettings.load(), server)
    OutboundEmailSettings.objects.update(connections=1)
    yield server
    server.stop()


def with_alone(server, count: int) -> list[tuple[str, str]]:
    """Three recipients for one batch call, then `count` whose messages go one call each."""
    return [*people(3), *((ALONE[server.name], f"alone{n}@example.com") for n in range(count))]


def test_after_a_short_retry_after_no_call_goes_out_before_it_has_passed(calls_server, limits):
    """A 429 with Retry-After: 1 to the batch call: the calls that follow it on the same
    thread wait that second (the server's rate limiter would refuse them before) and are
    sent, instead of each meeting a 429 and using an attempt."""
    server = calls_server
    mass_email = queue(with_alone(server, 2))
    server.throttle = 1.0

    report = run_send_job()

    first, *later = server.arrivals
    assert len(later) == 2 and all(arrival >= first + 1.0 for arrival in later)
    assert report.sent == 2
    assert sorted(got.to for got in server.received) == ["alone0@example.com", "alone1@example.com"]
    batch = [item for item in items_of(mass_email) if item.email_address.address[:6] == "reader"]
    assert all(item.status == Status.PENDING and item.attempts == 1 for item in batch)


def test_three_deferred_calls_of_one_thread_stop_the_source(calls_server, limits):
    """An ESP outage counts calls, not a thread's share: the batch call and two calls of one
    message deferred, the source stops, and the last message is not tried."""
    server = calls_server
    mass_email = queue(with_alone(server, 3))
    server.script += [(503, {}, {"message": "Service Unavailable"})] * 4

    report = run_send_job()

    assert server.requests == 3
    items = items_of(mass_email)
    assert all(item.status == Status.PENDING for item in items)
    assert [item.attempts for item in items] == [1, 1, 1, 1, 1, 0]
    assert any("3 calls in a row" in problem for problem in report.problems)


def test_an_answer_that_cannot_be_read_leaves_only_its_call_in_doubt(calls_server, limits):
    """The batch call is accepted, the next call's answer cannot be read (the ESP took its
    message): the batch's messages are Sent with their ids, the other one is deferred as after
    a timeout and sent again at its next attempt (at-least-once)."""
    server = calls_server
    mass_email = queue(with_alone(server, 1))
    server.malformed.add("alone0@example.com")

    report = run_send_job()

    items = items_of(mass_email)
    (doubt,) = [item for item in items if item.email_address.address == "alone0@example.com"]
    accepted = [item for item in items if item.pk != doubt.pk]
    assert report.sent == 3 and server.batches == [3]
    for item in accepted:
        (got,) = server.to(item.email_address.address)
        assert item.status == Status.SENT and item.esp_message_id == got.message_id
    assert doubt.status == Status.PENDING and doubt.attempts == 1
    assert "could not be read" in doubt.last_error

    server.malformed.clear()
    run_send_job(now=doubt.next_attempt_at + timedelta(seconds=1))

    doubt.refresh_from_db()
    assert doubt.status == Status.SENT and doubt.attempts == 2
    assert len(server.to("alone0@example.com")) == 2


def test_a_message_the_template_cannot_carry_goes_in_a_call_of_its_own(server, limits):
    """Mailgun would substitute a %recipient.…% of the text itself, SES may HTML-escape an
    apostrophe in a value: that recipient's message goes alone, byte for byte its own."""
    odd = {
        "mailgun": "100%recipient.v0%",
        "amazon_ses": "O'Brien",
        "sendgrid": "x" * 60,
    }[server.name]
    mass_email = queue([*people(3), (odd, "odd@example.com")])

    report = run_send_job()

    assert report.sent == 4
    (got,) = server.to("odd@example.com")
    item = next(i for i in items_of(mass_email) if i.email == "odd@example.com")
    expected = smtp_rendering(mass_email, item)
    assert got.subject == expected["subject"] == f"Hello {odd}"
    # (SES's SendEmail carries the raw MIME, whose lines the server reads back with LF.)
    assert got.html.replace("\r\n", "\n") == expected["html"].replace("\r\n", "\n")
    if server.name == "sendgrid":  # a long value fits SendGrid's substitutions: one call
        assert server.batches == [4]
    else:
        assert server.batches == [3] and server.requests == 2


def test_international_addresses_get_their_own_message(server, limits):
    addresses = ["josé@exämple.com", "zoe@bücher.example", "plain@example.com"]
    mass_email = queue([("José", addresses[0]), ("Zoë", addresses[1]), ("Ann", addresses[2])])

    report = run_send_job()

    items = items_of(mass_email)
    if server.name == "amazon_ses":
        # SES takes 7-bit local parts only: José's message goes alone (SendEmail), and SES
        # gets the others' domains in IDNA.
        assert server.batches == [2]
    else:
        assert server.batches == [3]
    for item in items:
        if item.status != Status.SENT:
            assert server.name == "amazon_ses" and item.email == addresses[0]
            continue
        local, _, domain = item.email.partition("@")
        (got,) = server.to(f"{local}@{domain.encode('idna').decode()}")
        expected = smtp_rendering(mass_email, item)
        assert got.subject == expected["subject"]
        assert got.html.replace("\r\n", "\n") == expected["html"].replace("\r\n", "\n")
        unsubscribe = got.headers["List-Unsubscribe"].strip()  # (folded in the raw MIME)
        assert unsubscribe == expected["headers"]["list-unsubscribe"]
    assert report.sent == len([i for i in items if i.status == Status.SENT]) >= 2


def test_a_mailgun_event_finds_its_recipient_among_those_of_one_batch_id(client, limits):
    mailgun = SERVERS["mailgun"]().start()
    try:
        configure(OutboundEmailSettings.load(), mailgun)
        OutboundEmailSettings.objects.update(connections=1)
        mass_email = queue(people(3))
        run_send_job()
    finally:
        mailgun.stop()
    first, second, third = items_of(mass_email)
    assert first.esp_message_id == second.esp_message_id == third.esp_message_id
    event = {
        "event": "failed",
        "severity": "permanent",
        "recipient": second.email,
        "message": {"headers": {"message-id": second.esp_message_id.strip("<>")}},
        "delivery-status": {"code": 550, "message": "5.1.1 No such user", "description": ""},
        "timestamp": 1764961200.0,
        "id": "event-1",
    }
    secret = base64.b64encode(django_settings.ANYMAIL["WEBHOOK_SECRET"].encode()).decode()
    signing = django_settings.ANYMAIL.get("MAILGUN_WEBHOOK_SIGNING_KEY", "")
    body = {"event-data": event, "signature": _mailgun_signature(signing)}

    response = client.post(
        "/anymail/mailgun/tracking/",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {secret}",
    )

    assert response.status_code == 200
    bounced = CampaignLogRecord.objects.filter(action="bounced")
    assert list(bounced.values_list("queue_item", flat=True)) == [second.pk]


def _mailgun_signature(key: str) -> dict:
    import hashlib
    import hmac

    timestamp, token = "1764961200", "a" * 50
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": digest}
