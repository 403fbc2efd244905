"""Real Celery workers (subprocesses) against the test database, and a real SMTP server.

A worker runs `celery -A crm worker` with the test settings and DATABASE_URL pointing at the
database pytest-django created, so it sees what a `transaction=True` test commits. The broker
is whatever CELERY_BROKER_URL says (Redis in CI's PostgreSQL pass; the embedded filesystem
broker under VAR_DIR otherwise).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

from tests.integration.smtp_server import SmtpServer, configure_system_smtp

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60


def database_url() -> str:
    """The URL of the test database, for processes started by the tests."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{credentials}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def on_postgresql() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


class Worker:
    """One `celery worker --pool=solo` process: the task runs in the process itself, so a
    SIGKILL to `pid` kills the run mid-way."""

    def __init__(self, name: str, log_dir: Path, extra_env: dict | None = None):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "settings.test",
            "DATABASE_URL": database_url(),
            "VAR_DIR": str(settings.VAR_DIR),
            "LOG_LEVEL": "INFO",
            **(extra_env or {}),
        }
        command = [sys.executable, "-m", "celery", "-A", "crm", "worker", "--pool=solo"]
        command += ["--hostname", f"{name}@%h", "--without-gossip", "--without-mingle"]
        command += ["--loglevel=INFO"]
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop())
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return
            if self.process.poll() is not None:
                pytest.fail(f"worker {self.name} exited:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        pytest.fail(f"worker {self.name} not ready within {READY_TIMEOUT}s:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _prepare_broker() -> None:
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for folder in ("broker", "broker-control"):
            (Path(settings.VAR_DIR) / folder).mkdir(parents=True, exist_ok=True)


class Workers:
    """The workers of a test module, by name; all are stopped at the end of the module."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.running: dict[str, Worker] = {}

    def start(self, name: str) -> Worker:
        worker = Worker(name, self.log_dir)
        self.running[name] = worker
        worker.wait_ready()
        return worker

    def ensure(self, name: str) -> Worker:
        worker = self.running.get(name)
        if worker is None or worker.process.poll() is not None:
            worker = self.start(name)
        return worker

    def stop_all(self) -> None:
        for worker in self.running.values():
            worker.stop()
        self.running.clear()


@pytest.fixture(scope="module")
def workers(django_db_setup, tmp_path_factory):
    from crm.celery import app

    _prepare_broker()
    app.control.purge()
    pool = Workers(tmp_path_factory.mktemp("workers"))
    yield pool
    pool.stop_all()


@pytest.fixture
def worker(workers):
    return workers.ensure("main")


def forget_unacked_messages() -> None:
    """Drop the task message a SIGKILLed worker left unacknowledged in Redis, which the broker
    would otherwise hand out again an hour later (its visibility timeout)."""
    import redis

    if settings.CELERY_BROKER_URL.startswith("redis://"):
        options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
        prefix = options.get("global_keyprefix", "")
        keys = (f"{prefix}unacked", f"{prefix}unacked_index")
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(*keys)


@pytest.fixture
def smtp_server(transactional_db):
    server = SmtpServer().start()
    configure_system_smtp(server.port)
    yield server
    server.stop()
