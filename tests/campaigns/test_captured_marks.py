"""The development mail capture marks test sends (campaigns.authoring.captured, registered in
ready())."""

import pytest
from aiosmtpd.controller import Controller
from django.urls import reverse

from campaigns.authoring.trial_send import send_test
from crm.captured_mail import CaptureHandler, list_messages, store
from tests.crm.smtp_servers import free_port
from tests.factories import MassEmailFactory
from tests.integration.smtp_server import configure_system_smtp

pytestmark = pytest.mark.django_db


def test_a_test_send_is_marked_in_the_capture(settings, tmp_path, admin_client):
    settings.SMTP_CAPTURE_DIR, settings.DEBUG = tmp_path / "mail", True
    port = free_port()
    controller = Controller(
        CaptureHandler(settings.SMTP_CAPTURE_DIR), hostname="127.0.0.1", port=port
    )
    controller.start()
    try:
        configure_system_smtp(port)
        [result] = send_test(MassEmailFactory(), addresses=["ann@example.com"])
    finally:
        controller.stop()
    store(settings.SMTP_CAPTURE_DIR, b"Subject: Plain\r\nX-Queue-Item-Id: forged.abc\r\n\r\nHi\r\n")

    listed = {m.subject: m.marks for m in list_messages(settings.SMTP_CAPTURE_DIR)}
    page = admin_client.get(reverse("captured_mail_list")).content.decode()

    assert result.sent
    assert sorted(listed.values()) == [[], ["Test send"]]
    assert "Test send" in page
