"""`manage.py smtp_capture`: a local SMTP server that keeps every message as an .eml file.

For development: point the outbound settings at it (the demo data does) and read the mail in
the admin under "Captured mail". Nothing it receives is delivered anywhere.
"""

import signal

from aiosmtpd.controller import Controller
from django.conf import settings
from django.core.management.base import BaseCommand

from crm.captured_mail import CaptureHandler

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class Command(BaseCommand):
    help = "Run a local SMTP server that stores received mail as .eml files (development)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.EMAIL_PORT)
        parser.add_argument("--directory", default=str(settings.SMTP_CAPTURE_DIR))

    def handle(self, *args, host: str, port: int, directory: str, **options) -> None:
        # The stop signals are blocked, in this thread and the server's thread it starts, and
        # taken with sigwait: no handler runs at an arbitrary moment (one that set an Event
        # could wait forever for a lock this thread holds), and none is missed.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        controller = Controller(
            CaptureHandler(directory), hostname=host, port=port, data_size_limit=50 * 1024 * 1024
        )
        controller.start()
        self.stdout.write(f"SMTP capture listening on {host}:{port}, storing mail in {directory}")
        try:
            signal.sigwait(STOP_SIGNALS)
        finally:
            controller.stop()
