"""DKIM: every rendered message is signed for its From domain and verifies with dkimpy."""

import re

import dkim as dkimpy
import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from campaigns.authoring import dkim
from campaigns.authoring.rendering import CompiledMassEmail, RenderError
from campaigns.models import CampaignType, DkimKey, EmailQueueItem
from crm import secrets
from crm.models import EmailTemplateAttachment
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    EmailTemplateFactory,
    MarketerFactory,
    MassEmailFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mass_settings")]
PEM = dkim.generate_private_key()


def _key(domain="shop.example", selector="mm2026", active=True) -> DkimKey:
    return DkimKey.objects.create(
        domain=domain,
        selector=selector,
        active=active,
        private_key_encrypted=secrets.encrypt(PEM),
        public_key=dkim.public_key_record(PEM),
    )


def _dns(*keys: DkimKey):
    """dkimpy's DNS lookup, answering only our published records."""
    records = {f"{key.dns_name}.".encode(): key.dns_value.encode() for key in keys}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name)

    return lookup


def _rendered(from_address="news@shop.example", subject="Hola {Person.firstName}"):
    campaign = CampaignFactory(type=CampaignType.NEWSLETTER)
    template = EmailTemplateFactory(
        subject=subject,
        body_html="<p>Dear   {Person.name},</p>\n<p>  Precios   bajos\t</p>\n\n\n",
        body_text="Dear {Person.name}  \n\n",
    )
    EmailTemplateAttachment.objects.create(
        template=template, file=ContentFile(b"%PDF-1.4 x", name="p.pdf"), name="Precios.pdf"
    )
    mass_email = MassEmailFactory(
        campaign=campaign, email_template=template, from_address=from_address
    )
    contact = ContactFactory(first_name="Zoë")
    item = EmailQueueItem.objects.create(
        mass_email=mass_email, contact=contact, email_address=contact.email_address
    )
    item = EmailQueueItem.objects.select_related("contact", "email_address").get(pk=item.pk)
    return CompiledMassEmail.compile(mass_email).render(item).data


def test_it_signs_each_message_so_that_dkimpy_verifies_it():
    key = _key()
    data = _rendered()
    assert data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.example;")
    assert dkimpy.verify(data, dnsfunc=_dns(key))
    signature = dkimpy.DKIM(data)
    assert signature.verify(dnsfunc=_dns(key))
    signed = data.split(b" h=", 1)[1].split(b";", 1)[0].replace(b"\r\n ", b"").split(b":")
    for name in (b"from", b"to", b"subject", b"date", b"message-id", b"list-id"):
        assert name in signed
    for name in (b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version", b"content-type"):
        assert name in signed
    assert signed.count(b"from") == 2  # over-signed: a second From breaks it
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


@pytest.mark.parametrize(
    "change",
    [
        lambda data: data.replace(b"Subject: ", b"Subject: Re: ", 1),
        lambda data: data.replace(b"Dear", b"Deer", 1),
        lambda data: b"From: boss@shop.example\r\n" + data,
    ],
)
def test_it_fails_verification_once_the_message_is_altered(change):
    key = _key()
    assert not dkimpy.verify(change(_rendered()), dnsfunc=_dns(key))


def test_it_signs_a_subdomain_with_the_parent_domains_key():
    key = _key("shop.example")
    data = _rendered(from_address="news@mail.shop.example")
    assert b"d=shop.example;" in data and dkimpy.verify(data, dnsfunc=_dns(key))


def test_it_prefers_the_key_of_the_exact_domain():
    _key("shop.example", "parent")
    exact = _key("mail.shop.example", "exact")
    data = _rendered(from_address="news@mail.shop.example")
    assert b"s=exact;" in data and dkimpy.verify(data, dnsfunc=_dns(exact))


def test_it_leaves_messages_unsigned_without_an_active_key():
    _key("other.example")
    _key("shop.example", active=False)
    assert b"DKIM-Signature" not in _rendered()


def test_it_reports_a_key_that_the_secret_key_cannot_open(settings):
    _key()
    settings.SECRET_KEY = "another-secret-key-" * 3
    with pytest.raises(RenderError, match="cannot be decrypted"):
        _rendered()


def test_it_canonicalises_bodies_as_rfc_6376_says():
    assert dkim.relaxed_body(b"a  b \t\r\n\r\n c\r\n\r\n\r\n") == b"a b\r\n\r\n c\r\n"
    assert dkim.relaxed_body(b"\r\n\r\n") == b""
    assert dkim.relaxed_header(b"SubJect ", b" a \r\n\t b  ") == b"subject:a b"


def test_it_refuses_a_key_that_is_not_rsa_pem():
    with pytest.raises(dkim.DkimError):
        dkim.load_private_key("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----")


def test_it_generates_a_key_and_shows_its_dns_record_but_never_the_key(admin_client):
    response = admin_client.post(
        reverse("admin:campaigns_dkimkey_add"),
        {"domain": "Shop.Example.", "selector": "mm2026", "private_key": "", "active": "on"},
    )
    assert response.status_code == 302
    key = DkimKey.objects.get()
    assert key.domain == "shop.example"
    assert dkim.load_private_key(key.private_key_pem).key_size == 2048
    assert "PRIVATE KEY" not in key.private_key_encrypted
    page = admin_client.get(reverse("admin:campaigns_dkimkey_change", args=[key.pk]))
    content = page.content.decode()
    assert "mm2026._domainkey.shop.example" in content
    assert f"v=DKIM1; k=rsa; p={key.public_key}" in content
    zone = key.zone_file_line
    assert zone.startswith('mm2026._domainkey.shop.example. IN TXT ( "v=DKIM1; k=rsa; p=')
    strings = re.findall(r'"([^"]*)"', zone)
    assert "".join(strings) == key.dns_value and max(map(len, strings)) <= 255
    assert key.private_key_encrypted not in content and "PRIVATE KEY" not in content
    admin_client.post(
        reverse("admin:campaigns_dkimkey_change", args=[key.pk]),
        {"domain": "shop.example", "selector": "mm2027", "private_key": "", "active": "on"},
    )
    kept = DkimKey.objects.get()
    assert kept.selector == "mm2027" and kept.private_key_pem == key.private_key_pem


def test_it_takes_a_pasted_key_and_refuses_a_bad_one(admin_client):
    url = reverse("admin:campaigns_dkimkey_add")
    bad = admin_client.post(url, {"domain": "a.example", "selector": "s", "private_key": "x"})
    assert "not a PEM private key" in bad.content.decode()
    admin_client.post(url, {"domain": "a.example", "selector": "s", "private_key": PEM})
    assert DkimKey.objects.get().private_key_pem.strip() == PEM.strip()


def test_it_keeps_dkim_keys_from_marketers(client):
    client.force_login(MarketerFactory())
    assert client.get(reverse("admin:campaigns_dkimkey_changelist")).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"a\r\n",
        b"a \t b\t\r\n  c  \r\n\r\n",
        b" lead\r\n\t\ttabs\r\n\r\n\r\n",
        b"no final line break  ",
        b"=\r\n  x=20\r\n\t\r\n",
    ],
)
def test_it_canonicalises_bodies_exactly_as_dkimpy_does(body):
    from dkim.canonicalization import Relaxed

    assert dkim.relaxed_body(body) == Relaxed.canonicalize_body(body)


def test_it_signs_what_the_send_job_hands_to_a_real_smtp_server():
    from campaigns.sending.job import run_send_job
    from tests.factories import PendingQueueItemFactory
    from tests.integration.smtp_server import SmtpServer, configure_system_smtp

    key = _key()
    server = SmtpServer().start()
    try:
        configure_system_smtp(server.port)
        item = PendingQueueItemFactory(
            mass_email__from_address="news@shop.example",
            mass_email__email_template__body_html="<p>Hola   {Person.firstName}</p>",
        )
        run_send_job()
        [(_sender, _recipient, data)] = server.handler.messages
    finally:
        server.stop()
    assert dkimpy.verify(data, dnsfunc=_dns(key)), data[:400]
    assert item.email_address.address.encode() in data


def test_it_signs_headers_in_raw_utf_8_as_smtputf8_messages_carry_them():
    key = _key()
    message = (
        'From: news@shop.example\r\nTo: "Zoë" <zoë@bücher.example>\r\n'
        "Subject: Grüße\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
        "Message-ID: <1@shop.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n\r\nHallo Zoë\r\n'
    ).encode()
    signed = dkim.Signer(key.domain, key.selector, PEM).sign(message)
    assert signed.endswith(message)
    assert dkimpy.verify(signed, dnsfunc=_dns(key))
