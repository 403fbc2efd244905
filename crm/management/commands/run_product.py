"""`manage.py run_product`: the whole product in one terminal (what `make run` starts).

Starts the web admin (runserver), a Celery worker, Celery beat (DatabaseScheduler) and, with
DEBUG on, the local SMTP capture. Prints the URL and the demo logins once the web server
answers. Ctrl-C or SIGTERM stops every process it started; if one of them dies, it stops the
others and exits 1.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import TextIO
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from crm.management.commands.load_demo_data import DEMO_USERS

POLL_SECONDS = 0.5


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = field(default=None, repr=False)


class Supervisor:
    """Runs child processes, each in its own process group, and stops them all together."""

    def __init__(self, children: list[Child], out: TextIO = sys.stdout, grace: float = 20.0):
        self.children = children
        self.out = out
        self.grace = grace
        self.stopping = threading.Event()

    def start(self) -> None:
        for child in self.children:
            # A new session: a signal to the group also reaches the child's own children
            # (runserver's reloader, Celery's pool), and the terminal's Ctrl-C reaches only us.
            child.process = subprocess.Popen(child.argv, start_new_session=True)

    def dead_child(self) -> Child | None:
        return next((c for c in self.children if c.process.poll() is not None), None)

    def wait(self, on_tick=None) -> int:
        """Block until a signal (exit 0) or a child's death (exit 1); stop every child."""
        previous = {
            signum: signal.signal(signum, lambda *_: self.stopping.set())
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            while not self.stopping.wait(POLL_SECONDS):
                dead = self.dead_child()
                if dead is not None:
                    self.out.write(f"{dead.name} exited with code {dead.process.returncode}.\n")
                    self.stop_all()
                    return 1
                if on_tick is not None:
                    on_tick()
            self.stop_all()
            return 0
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def stop_all(self) -> None:
        self.out.write("Stopping...\n")
        self.out.flush()
        for child in self.children:
            self._signal(child, signal.SIGTERM)
        for child in self.children:
            try:
                child.process.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                self.out.write(f"{child.name} did not stop in {self.grace} s; killing it.\n")
                self._signal(child, signal.SIGKILL)
                child.process.wait()
            self._signal(child, signal.SIGKILL)  # Leftover grandchildren, if any.

    @staticmethod
    def _signal(child: Child, signum: int) -> None:
        try:
            os.killpg(child.process.pid, signum)
        except ProcessLookupError:
            return  # The whole group is already gone.


def served_url(host: str, port: int) -> str:
    """The address this command serves on, as recipients' links should use it locally."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://{shown}:{port}"


def follow_served_url(url: str) -> bool:
    """Point the stored site URL at `url` when it is empty or another local port (the demo's
    first run), never when an administrator set a real address; whether it changed."""
    mass_settings = apps.get_model("campaigns", "MassEmailSettings")
    row = mass_settings.load()
    stored = urlsplit(row.site_url or "")
    local = stored.hostname in ("127.0.0.1", "localhost", None) and stored.scheme in ("http", "")
    if not local or row.site_url.rstrip("/") == url:
        return False
    row.site_url = url
    row.save(update_fields=["site_url"])
    return True


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=POLL_SECONDS):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Run the web admin, a Celery worker, Celery beat and the SMTP capture together."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument(
            "--no-capture", action="store_true", help="Do not start the local SMTP capture."
        )

    def handle(self, *args, host: str, port: int, no_capture: bool, **options) -> None:
        capture = settings.DEBUG and not no_capture
        if not os.environ.get("SITE_URL"):
            # Every child (web, worker, beat) builds links on the address served here.
            os.environ["SITE_URL"] = served_url(host, port)
            follow_served_url(os.environ["SITE_URL"])
        supervisor = Supervisor(self.children(host, port, capture), out=self.stdout)
        supervisor.start()
        announced = []

        def announce_when_ready() -> None:
            if not announced and port_open(host, port):
                announced.append(True)
                self.stdout.write(self.banner(host, port, capture))

        code = supervisor.wait(on_tick=announce_when_ready)
        if code:
            sys.exit(code)

    def children(self, host: str, port: int, capture: bool) -> list[Child]:
        python, manage = sys.executable, str(settings.BASE_DIR / "manage.py")
        celery = [python, "-m", "celery", "-A", "crm"]
        # SQLite allows one writer: a single-process worker avoids lock contention.
        sqlite = connection.vendor == "sqlite"
        pool = ["--pool=solo", "--concurrency=1"] if sqlite else ["--concurrency=2"]
        children = [
            Child("web", [python, manage, "runserver", f"{host}:{port}"]),
            Child("worker", [*celery, "worker", "--loglevel=INFO", *pool]),
            Child("beat", [*celery, "beat", "--loglevel=INFO"]),
        ]
        if capture:
            children.append(Child("smtp-capture", [python, manage, "smtp_capture"]))
        return children

    def banner(self, host: str, port: int, capture: bool) -> str:
        base = f"http://{host}:{port}"
        lines = ["", "Mass Email is running.", f"  Admin:          {base}/admin/"]
        for user in DEMO_USERS:
            lines.append(f"  {user.role + ':':<15} {user.username} / {user.password}")
        if capture:
            lines.append(
                f"  Captured mail:  {base}/admin/captured-mail/ "
                f"(SMTP capture on {settings.EMAIL_HOST}:{settings.EMAIL_PORT})"
            )
        lines += ["Press Ctrl-C to stop every process.", ""]
        return "\n".join(lines)
