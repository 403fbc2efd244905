"""`manage.py run_product`: the whole product in one terminal (what `make run` starts).

Starts the web admin (runserver), a Celery worker, Celery beat (DatabaseScheduler) and, with
DEBUG on, the local SMTP capture. Prints the URL and the demo logins once the web server
answers. Ctrl-C, SIGTERM or SIGHUP stops every process it started (a second one kills them at
once); if one of them dies, it stops the others and exits 1.
"""

import os
import select
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TextIO
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from crm.management.commands.load_demo_data import DEMO_USERS

POLL_SECONDS = 0.5
STOP_POLL_SECONDS = 0.05  # how often a stop looks whether the children have gone
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = field(default=None, repr=False)


class StopSignals:
    """While open, SIGINT, SIGTERM and SIGHUP are counted instead of acted on, and `wait` wakes
    up when one comes.

    The handler only adds one to a counter: it takes no lock and does no I/O. Python runs it in
    the main thread between two bytecodes, wherever that thread is; a handler that set a
    threading.Event could find the main thread inside that Event's own lock (Event.wait holds
    it around its timed wait) and wait for it forever. The wake-up goes through a pipe that
    the interpreter's C-level handler writes to (signal.set_wakeup_fd) and `wait` selects on.
    """

    def __init__(self) -> None:
        self.count = 0
        self._pipe: tuple[int, int] | None = None
        self._previous_fd = -1
        self._previous: dict[int, object] = {}

    def open(self) -> None:
        """Start counting (main thread only)."""
        if self._pipe is not None:
            return
        self._pipe = os.pipe()  # not inherited by the children (PEP 446)
        for fd in self._pipe:
            os.set_blocking(fd, False)
        self._previous_fd = signal.set_wakeup_fd(self._pipe[1], warn_on_full_buffer=False)
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._count)

    def close(self, restore: bool = True) -> None:
        """Give the signals back to the handlers they had before `open`; with `restore` off,
        ignore them from now on (for a process that ends next)."""
        if self._pipe is None:
            return
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if restore else signal.SIG_IGN)
        signal.set_wakeup_fd(self._previous_fd)
        for fd in self._pipe:
            os.close(fd)
        self._pipe, self._previous = None, {}

    def _count(self, signum: int, frame: object) -> None:
        self.count += 1

    def wait(self, timeout: float, seen: int = 0) -> bool:
        """Wait up to `timeout` seconds until more than `seen` stop signals came in all;
        whether they did."""
        if self.count <= seen:
            if self._pipe is None:
                time.sleep(timeout)
            else:
                readable, _, _ = select.select([self._pipe[0]], [], [], timeout)
                if readable:
                    os.read(self._pipe[0], 4096)  # the wake-up bytes; `count` says how many
        return self.count > seen


class Supervisor:
    """Runs child processes, each in its own process group, and stops them all together."""

    def __init__(
        self,
        children: list[Child],
        out: TextIO = sys.stdout,
        grace: float = 20.0,
        exit_after: bool = False,
    ):
        """`exit_after`: the process ends once the children are stopped, so a stop signal that
        comes late is ignored rather than given back to its old handler (no KeyboardInterrupt
        traceback on a third Ctrl-C)."""
        self.children = children
        self.out = out
        self.grace = grace
        self.exit_after = exit_after
        self.signals = StopSignals()

    def run(self, on_tick=None) -> int:
        """`start`, then `wait`; whatever goes wrong, no child is left running."""
        try:
            self.start()
        except BaseException:
            self._end()
            raise
        return self.wait(on_tick)

    def start(self) -> None:
        """Start the children. From here until `wait` returns, a stop signal is counted, not
        fatal: one that comes while they start leaves the rest unstarted."""
        self.signals.open()
        for child in self.children:
            if self.signals.count:
                return
            # A new session: a signal to the group also reaches the child's own children
            # (runserver's reloader, Celery's pool), and the terminal's Ctrl-C reaches only us.
            child.process = subprocess.Popen(child.argv, start_new_session=True)

    def started(self) -> list[Child]:
        return [c for c in self.children if c.process is not None]

    def dead_child(self) -> Child | None:
        return next((c for c in self.started() if c.process.poll() is not None), None)

    def wait(self, on_tick=None) -> int:
        """Block until a stop signal (exit 0) or a child's death (exit 1); then, or if
        anything goes wrong meanwhile, stop every child."""
        try:
            while not self.signals.wait(POLL_SECONDS):
                dead = self.dead_child()
                if dead is not None:
                    self._say(f"{dead.name} exited with code {dead.process.returncode}.\n")
                    return 1
                if on_tick is not None:
                    on_tick()
            return 0
        finally:
            self._end()

    def _end(self) -> None:
        try:
            # A stop signal asked for this stop; any signal beyond that first one hurries it,
            # even one that came before `stop_all` began.
            self.stop_all(seen=min(self.signals.count, 1))
        finally:
            self.signals.close(restore=not self.exit_after)

    def stop_all(self, seen: int = 0) -> None:
        """SIGTERM to every child's group; SIGKILL to a child still running `grace` seconds
        later, or at once when more than `seen` stop signals have come; then to what is left
        of each group."""
        self._say("Stopping...\n")
        started = self.started()
        for child in started:
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while any(c.process.poll() is None for c in started):
            left = deadline - time.monotonic()
            if left <= 0 or self.signals.wait(min(left, STOP_POLL_SECONDS), seen):
                break
        hurried = self.signals.count > seen
        for child in started:
            if child.process.poll() is None:
                why = "stopping again" if hurried else f"it did not stop in {self.grace:g} s"
                self._say(f"Killing {child.name} ({why}).\n")
                self._signal(child, signal.SIGKILL)
                child.process.wait()
            self._signal(child, signal.SIGKILL)  # Leftover grandchildren, if any.

    def _say(self, text: str) -> None:
        # After SIGHUP the terminal may be gone: stopping the children matters more than
        # telling it so.
        with suppress(OSError):
            self.out.write(text)
            self.out.flush()

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
        children = self.children(host, port, capture)
        supervisor = Supervisor(children, out=self.stdout, exit_after=True)
        announced = []

        def announce_when_ready() -> None:
            if not announced and port_open(host, port):
                announced.append(True)
                self.stdout.write(self.banner(host, port, capture))

        code = supervisor.run(on_tick=announce_when_ready)
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
