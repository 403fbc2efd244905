import os
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.urls import reverse

from crm.captured_mail import CaptureHandler, list_messages, store
from tests.crm.smtp_servers import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def capture_dir(settings, tmp_path):
    settings.SMTP_CAPTURE_DIR = tmp_path / "mail"
    settings.DEBUG = True
    return settings.SMTP_CAPTURE_DIR


def send_to_capture(directory, subject: str, html: str = "") -> None:
    port = free_port()
    controller = Controller(CaptureHandler(directory), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = "news@example.com"
        message["To"] = "ann@example.com"
        message["Date"] = "Fri, 27 Nov 2026 12:00:00 +0000"
        message.set_content("Plain words for Ann.")
        if html:
            message.add_alternative(html, subtype="html")
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(message, to_addrs=["ann@example.com", "hidden@example.com"])
    finally:
        controller.stop()


def test_the_capture_stores_a_received_message_as_eml(capture_dir):
    send_to_capture(capture_dir, "Spring news")

    [path] = capture_dir.glob("*.eml")
    raw = path.read_bytes()
    assert b"Subject: Spring news" in raw
    assert b"X-Envelope-To: ann@example.com, hidden@example.com" in raw
    [listed] = list_messages(capture_dir)
    assert (listed.name, listed.subject, listed.to) == (path.name, "Spring news", "ann@example.com")


def test_the_list_shows_newest_first(admin_client, capture_dir):
    send_to_capture(capture_dir, "First")
    send_to_capture(capture_dir, "Second")

    response = admin_client.get(reverse("captured_mail_list"))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Second") < html.index("First")


def test_the_detail_shows_headers_text_and_sandboxed_escaped_html(admin_client, capture_dir):
    send_to_capture(capture_dir, "With HTML", html="<p>Hi</p><script>alert(1)</script>")
    [message] = list_messages(capture_dir)

    html = admin_client.get(reverse("captured_mail_detail", args=[message.name])).content.decode()

    assert "Plain words for Ann." in html
    assert "news@example.com" in html
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in html
    assert "allow-scripts" not in html and "allow-same-origin" not in html
    assert "<script>alert(1)</script>" not in html
    frame_url = reverse("captured_mail_html", args=[message.name])
    assert f'src="{frame_url}"' in html
    assert "{#" not in html and "Its own page" not in html  # the template's comment stays hidden


def test_the_frame_serves_the_html_with_a_policy_that_runs_no_script(admin_client, capture_dir):
    send_to_capture(capture_dir, "With HTML", html="<p style='color:red'>Hi</p><script>x</script>")
    [message] = list_messages(capture_dir)

    response = admin_client.get(reverse("captured_mail_html", args=[message.name]))

    policy = response["Content-Security-Policy"]
    assert "<p style='color:red'>Hi</p>" in response.content.decode()
    assert response.content.decode().startswith('<base target="_blank">')  # links: a new tab
    assert "default-src 'none'" in policy
    assert "style-src 'unsafe-inline'" in policy
    assert "script-src" not in policy  # so default-src 'none' refuses scripts
    assert "sandbox" in policy.split("; ")
    assert "frame-ancestors 'self'" in policy
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_the_pages_do_not_exist_without_debug(admin_client, capture_dir, settings):
    send_to_capture(capture_dir, "Secret")
    [message] = list_messages(capture_dir)
    settings.DEBUG = False

    assert admin_client.get(reverse("captured_mail_list")).status_code == 404
    assert admin_client.get(reverse("captured_mail_html", args=[message.name])).status_code == 404
    assert admin_client.get(reverse("captured_mail_detail", args=[message.name])).status_code == 404
    assert "Captured mail" not in admin_client.get(reverse("admin:index")).content.decode()


def test_the_pages_do_not_exist_for_anonymous_users(client, capture_dir):
    send_to_capture(capture_dir, "Secret")

    assert client.get(reverse("captured_mail_list")).status_code == 404


def test_the_admin_index_links_to_captured_mail_in_debug(admin_client, capture_dir):
    html = admin_client.get(reverse("admin:index")).content.decode()

    assert f'href="{reverse("captured_mail_list")}"' in html


def test_it_refuses_names_outside_the_capture_folder(admin_client, capture_dir, tmp_path):
    (tmp_path / "private.eml").write_text("Subject: private\n\nno")

    response = admin_client.get("/admin/captured-mail/..%2Fprivate.eml/")

    assert response.status_code == 404


def test_the_detail_shows_a_message_with_an_unknown_charset(admin_client, capture_dir):
    raw = (
        b"Subject: Odd\r\nFrom: a@example.com\r\nTo: b@example.com\r\n"
        b'Content-Type: text/plain; charset="x-no-such-charset"\r\n\r\nHello there\r\n'
    )
    path = store(capture_dir, raw)

    response = admin_client.get(reverse("captured_mail_detail", args=[path.name]))

    assert response.status_code == 200
    assert "Hello there" in response.content.decode()


def test_it_lists_when_mail_without_a_date_was_captured(capture_dir):
    store(capture_dir, b"Subject: No date\r\n\r\nHi\r\n")

    [message] = list_messages(capture_dir)

    assert message.date.tzinfo is not None and message.date.year >= 2026


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name
)
def test_the_capture_command_stops_on_a_signal(tmp_path, signum):
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "manage.py", "smtp_capture", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--directory", str(tmp_path)],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert "SMTP capture listening" in process.stdout.readline()

    process.send_signal(signum)

    assert process.wait(timeout=30) == 0
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP("127.0.0.1", port)
