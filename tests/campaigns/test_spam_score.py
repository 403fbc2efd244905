"""The demo newsletter as a recipient receives it, scored by SpamAssassin (network tests off).

Debian's spamassassin is installed by .ci/run. The message is rendered by the real renderer,
DKIM-signed with a stored key, given the Return-Path and Received lines a receiving server adds,
and run through `spamassassin -t -L`; its report names every rule that hit.
"""

import re
import shutil
import subprocess

import dkim as dkimpy
import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from campaigns.authoring import dkim
from campaigns.authoring.rendering import CompiledMassEmail
from campaigns.models import DkimKey, EmailQueueItem, MassEmail
from crm import secrets
from crm.models import Contact, EmailTemplate

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mass_settings")]
MAX_SCORE = 1.0
# Header rules: the names SpamAssassin gives the tests it runs on headers and their
# structure; none of these may hit a well-formed bulk message.
HEADER_RULE = re.compile(
    r"^(MISSING_|INVALID_|HEADER_|FORGED_|FROM_|TO_|SUBJ_|MSGID_|DATE_|LIST_|MIME_|"
    r"BAD_|DKIM_INVALID|DKIM_ADSP|DMARC_|__)",
)
RULE_LINE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+(\S+)\s+(.*)$")


def _received(rendered) -> bytes:
    now = timezone.now().strftime("%a, %d %b %Y %H:%M:%S +0000")
    return (
        f"Return-Path: <{rendered.envelope_from}>\r\n"
        "Received: from mail.example.com (mail.example.com [93.184.215.14])\r\n"
        "\tby mx.example.net (Postfix) with ESMTPS id 4Qx7Zk2mKlz9sW\r\n"
        f"\tfor <{rendered.recipient}>; {now}\r\n"
    ).encode() + rendered.data


SHORT = (
    "<p>Hello {Person.firstName|there},</p><p>Our spring catalogue is out, with the new garden "
    'range. <a href="https://example.com/catalogue">Have a look</a>.</p>'
    '<p>The Acme team. <a href="{optOutUrl}">Unsubscribe</a></p>'
)


def _demo_message(body_html: str = "") -> bytes:
    """The demo mass email as its first contact receives it; its signature verified."""
    with override_settings(DEBUG=True):  # the demo data loads only in development
        call_command("load_demo_data", verbosity=0)
    if body_html:
        EmailTemplate.objects.filter(name="Spring newsletter").update(body_html=body_html)
    pem = dkim.generate_private_key()
    DkimKey.objects.create(
        domain="example.com",
        selector="mm2026",
        private_key_encrypted=secrets.encrypt(pem),
        public_key=dkim.public_key_record(pem),
    )
    mass_email = MassEmail.objects.get(name="Spring newsletter: first send")
    contact = Contact.objects.filter(email_address__isnull=False).first()
    item = EmailQueueItem.objects.create(
        mass_email=mass_email, contact=contact, email_address=contact.email_address
    )
    item = EmailQueueItem.objects.select_related("contact", "email_address").get(pk=item.pk)
    message = _received(CompiledMassEmail.compile(mass_email).render(item))
    record = DkimKey.objects.get().dns_value.encode()
    assert dkimpy.verify(message, dnsfunc=lambda name, timeout=5: record)
    return message


def _score(message: bytes) -> tuple[float, list[tuple[float, str, str]], str]:
    spamassassin = shutil.which("spamassassin")
    assert spamassassin, "spamassassin is missing: .ci/run installs Debian's spamassassin"
    result = subprocess.run(
        [spamassassin, "-t", "-L"], input=message, capture_output=True, timeout=120, check=True
    )
    output = result.stdout.decode(errors="replace")
    status = re.search(r"^X-Spam-Status: \w+, score=(-?\d+(?:\.\d+)?)", output, re.MULTILINE)
    assert status, output[-3000:]
    report = output.split("Content analysis details:", 1)[1]
    rules = [
        (float(m.group(1)), m.group(2), m.group(3))
        for line in report.splitlines()
        if (m := RULE_LINE.match(line)) and m.group(2).isupper()
    ]
    return float(status.group(1)), rules, report


@pytest.mark.parametrize("open_tracking", [False, True])
def test_it_scores_the_demo_newsletter_low_with_no_header_rule_hit(mass_settings, open_tracking):
    mass_settings.open_tracking = open_tracking
    mass_settings.save()
    message = _demo_message()
    assert (b"/t/o/" in message) == open_tracking
    assert message.count(b"DKIM-Signature:") == 1
    score, rules, report = _score(message)
    hits = "\n".join(f"{points:5.1f} {name}: {text}" for points, name, text in rules)
    assert score <= MAX_SCORE, f"score {score} > {MAX_SCORE}; rules hit:\n{hits}\n{report}"
    header_hits = [name for _points, name, _text in rules if HEADER_RULE.match(name)]
    assert not header_hits, f"header rules hit: {header_hits}\n{hits}"


@pytest.mark.parametrize("open_tracking", [False, True])
def test_it_scores_a_short_message_low_even_with_the_pixel(mass_settings, open_tracking):
    mass_settings.open_tracking = open_tracking
    mass_settings.save()
    score, rules, report = _score(_demo_message(SHORT))
    hits = "\n".join(f"{points:5.1f} {name}: {text}" for points, name, text in rules)
    assert score <= MAX_SCORE, f"score {score} > {MAX_SCORE}; rules hit:\n{hits}\n{report}"
