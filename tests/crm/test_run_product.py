"""run_product: every process it starts stops with it. The last test runs the whole product."""

import io
import os
import select
import signal
import smtplib
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from crm.management.commands.run_product import Child, Supervisor
from tests.crm.smtp_servers import free_port

PYTHON = sys.executable
SLEEPER = [PYTHON, "-c", "import time; time.sleep(600)"]
PARENT_OF_SLEEPER = [
    PYTHON,
    "-c",
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "print('grandchild', child.pid, flush=True)\n"
    "time.sleep(600)\n",
]
SUPERVISOR_SCRIPT = """
import os, sys
import django
django.setup()
from crm.management.commands.run_product import Child, Supervisor
supervisor = Supervisor([Child("a", %r), Child("b", %r)])
supervisor.start()
print("children", *[c.process.pid for c in supervisor.children], flush=True)
sys.exit(supervisor.wait())
"""


def watch(pids: list[int]) -> list[int]:
    """A pidfd per process: it turns readable when the process ends (no polling, no sleeps)."""
    return [os.pidfd_open(pid) for pid in pids]


def still_running(pidfds: list[int]) -> int:
    """How many of the watched processes are still running after up to 30 s each."""
    running = 0
    for fd in pidfds:
        readable, _w, _x = select.select([fd], [], [], 30)
        running += not readable
        os.close(fd)
    return running


def test_it_stops_every_child_when_one_dies():
    sleeper = Child("sleeper", SLEEPER)
    dying = Child("dying", [PYTHON, "-c", "raise SystemExit(3)"])
    out = io.StringIO()
    supervisor = Supervisor([sleeper, dying], out=out)
    supervisor.start()

    code = supervisor.wait()

    assert code == 1
    assert sleeper.process.returncode == -signal.SIGTERM
    assert "dying exited with code 3." in out.getvalue()


def test_sigterm_stops_every_child_and_grandchild():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test"}
    script = SUPERVISOR_SCRIPT % (PARENT_OF_SLEEPER, SLEEPER)
    process = subprocess.Popen(
        [PYTHON, "-c", script], cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
    )
    pids = []
    while len(pids) < 3:
        words = process.stdout.readline().split()
        assert words, "the supervisor ended before starting its children"
        pids += [int(pid) for pid in words[1:]]
    pidfds = watch(pids)

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=60) == 0
    assert still_running(pidfds) == 0


def drain(stream, lines: list[str], banner: threading.Event) -> None:
    for line in stream:
        lines.append(line)
        if "Mass Email is running." in line:
            banner.set()


@pytest.mark.integration
def test_the_whole_product_starts_serves_captures_mail_and_stops(tmp_path):
    web_port, capture_port = free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings",
        "DEBUG": "1",
        "VAR_DIR": str(tmp_path),
        "PORT": str(web_port),
        "EMAIL_PORT": str(capture_port),
    }
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    manage = [PYTHON, str(Path(settings.BASE_DIR) / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=300)
    product = subprocess.Popen(
        [*manage, "run_product"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines, banner = [], threading.Event()
    threading.Thread(target=drain, args=(product.stdout, lines, banner), daemon=True).start()
    try:
        assert banner.wait(timeout=120), "".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/admin/login/") as response:
            assert response.status == 200
        with smtplib.SMTP("127.0.0.1", capture_port) as client:
            client.sendmail("a@example.com", ["b@example.com"], b"Subject: Hi\r\n\r\nHello\r\n")
        assert len(list((tmp_path / "mail").glob("*.eml"))) == 1
    finally:
        product.send_signal(signal.SIGINT)
        code = product.wait(timeout=60)
    assert code == 0, "".join(lines)
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP("127.0.0.1", capture_port)
