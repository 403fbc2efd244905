"""run_product: every process it starts stops with it. The last test runs the whole product."""

import io
import json
import os
import random
import secrets
import select
import signal
import smtplib
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from crm.management.commands.run_product import Child, Supervisor
from tests.ports import server_port

PYTHON = sys.executable
SLEEPER = [PYTHON, "-c", "import time; time.sleep(600)"]
# Its child gets its arguments too: a mark given to it is in both command lines.
PARENT_OF_SLEEPER = [
    PYTHON,
    "-c",
    "import subprocess, sys, time\n"
    "sleep = [sys.executable, '-c', 'import time; time.sleep(600)', *sys.argv[1:]]\n"
    "child = subprocess.Popen(sleep)\n"
    "print('grandchild', child.pid, flush=True)\n"
    "time.sleep(600)\n",
]
STUBBORN = [
    PYTHON,
    "-c",
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('stubborn', flush=True)\n"
    "time.sleep(600)\n",
]
# Runs a Supervisor as run_product does, of the children given as JSON [[name, argv], ...] and
# a grace in seconds.
SUPERVISOR_SCRIPT = """
import json, sys
import django
django.setup()
from crm.management.commands.run_product import Child, Supervisor
children, grace = json.loads(sys.argv[1])
supervisor = Supervisor(
    [Child(name, argv) for name, argv in children], grace=grace, exit_after=True
)
supervisor.start()
print("children", *[c.process.pid for c in supervisor.started()], flush=True)
sys.exit(supervisor.wait())
"""
ENDED = 30  # seconds within which a process we stopped must be gone; beyond it, it hangs
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def start_supervisor(
    children: list[tuple[str, list[str]]], grace: float, stdout=subprocess.PIPE
) -> subprocess.Popen:
    """A supervisor process in a session of its own (its group is itself alone)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test"}
    argv = [PYTHON, "-c", SUPERVISOR_SCRIPT, json.dumps([children, grace])]
    return subprocess.Popen(
        argv,
        cwd=settings.BASE_DIR,
        env=env,
        stdout=stdout,
        text=True,
        start_new_session=True,
    )


def read_pids(process: subprocess.Popen, count: int, stubborn: int = 0) -> list[int]:
    """The pids the supervisor and the children print, once `stubborn` children say they
    ignore SIGTERM."""
    pids = []
    while len(pids) < count or stubborn:
        words = process.stdout.readline().split()
        assert words, "the supervisor ended before starting its children"
        pids += [int(pid) for pid in words[1:]]
        stubborn -= words == ["stubborn"]
    return pids


def watch(pids: list[int]) -> list[int]:
    """A pidfd per process: it turns readable when the process ends (no polling, no sleeps)."""
    return [os.pidfd_open(pid) for pid in pids]


def still_running(pidfds: list[int]) -> int:
    """How many of the watched processes are still running after up to ENDED s each."""
    running = 0
    for fd in pidfds:
        readable, _w, _x = select.select([fd], [], [], ENDED)
        running += not readable
        os.close(fd)
    return running


def processes_marked(mark: str) -> list[int]:
    """pidfds of the live processes with `mark` among their arguments (a zombie has none)."""
    pidfds = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and mark.encode() in (entry / "cmdline").read_bytes():
                pidfds.append(os.pidfd_open(int(entry.name)))
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended while we looked
    return pidfds


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
    process = start_supervisor([("a", PARENT_OF_SLEEPER), ("b", SLEEPER)], grace=20)
    pidfds = watch(read_pids(process, 3))

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=ENDED) == 0
    assert still_running(pidfds) == 0
    said = process.stdout.read()
    assert "Stopping..." in said and "Killing" not in said  # each stopped on its SIGTERM


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_time():
    process = start_supervisor([("stubborn", STUBBORN), ("sleeper", SLEEPER)], grace=1)
    pidfds = watch(read_pids(process, 2, stubborn=1))

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=ENDED) == 0
    assert still_running(pidfds) == 0
    assert "Killing stubborn (it did not stop in 1 s)." in process.stdout.read()


def test_a_second_signal_kills_at_once():
    process = start_supervisor([("stubborn", STUBBORN)], grace=3600)
    pidfds = watch(read_pids(process, 1, stubborn=1))
    process.send_signal(signal.SIGINT)
    assert process.stdout.readline() == "Stopping...\n"

    process.send_signal(signal.SIGINT)

    assert process.wait(timeout=ENDED) == 0  # long before the hour of grace
    assert still_running(pidfds) == 0
    assert "Killing stubborn (stopping again)." in process.stdout.read()


def test_a_child_that_cannot_start_leaves_none_running():
    sleeper = Child("sleeper", SLEEPER)
    supervisor = Supervisor(
        [sleeper, Child("missing", ["/nonexistent/program"])], out=io.StringIO()
    )

    with pytest.raises(FileNotFoundError):
        supervisor.run()

    assert sleeper.process.returncode == -signal.SIGTERM


def test_signals_at_random_moments_always_stop_everything_within_the_grace_time():
    """Bursts of SIGTERM, SIGINT and SIGHUP to the supervisor's process group, at random moments
    from its start (before it has set anything up, while it starts its children, while they
    run, while it stops them): each time it ends, and with it every child and grandchild."""
    seed = secrets.randbits(32)
    rng = random.Random(seed)
    grace = 1.5
    for trial in range(8):
        mark = f"massmail-supervised-{secrets.token_hex(6)}"
        children = [
            ("parent", [*PARENT_OF_SLEEPER, mark]),
            ("stubborn", [*STUBBORN, mark]),
            ("sleeper", [*SLEEPER, mark]),
        ]
        process = start_supervisor(children, grace, stdout=subprocess.DEVNULL)
        signals = [rng.choice(STOP_SIGNALS) for _ in range(rng.randint(1, 4))]
        plan = [
            (signum, rng.uniform(0, 2.5) if i == 0 else rng.uniform(0, 1))
            for i, signum in enumerate(signals)
        ]
        context = f"seed {seed}, trial {trial}, plan {plan}"
        for signum, delay in plan:
            time.sleep(delay)  # the random moment itself
            if process.poll() is None:
                os.killpg(process.pid, signum)

        # It ends (with 0 once it has started its children; before, as any process would).
        process.wait(timeout=grace + ENDED)

        assert still_running(processes_marked(mark)) == 0, context


def drain(stream, lines: list[str], banner: threading.Event) -> None:
    for line in stream:
        lines.append(line)
        if "Mass Email is running." in line:
            banner.set()


@pytest.mark.integration
def test_the_whole_product_starts_serves_captures_mail_and_stops(tmp_path):
    web_port, capture_port = server_port(), server_port()
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
