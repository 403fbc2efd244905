"""A real Exim (Debian's exim4-daemon-light) that bounces our mail, beside Postfix.

Debian's Exim and Postfix packages conflict (both provide mail-transport-agent), so Exim is not
installed: .ci/run downloads its package with `apt-get download` and unpacks it with `dpkg -x`
into EXIM_ROOT (var/exim; with libidn12, which the binary needs and Postfix does not bring).
The binary has the user "Debian-exim" compiled in, which a Postfix system lacks: it runs in a
private mount namespace (`unshare --mount`) in which /etc/passwd and /etc/group are bind-mounted
copies naming that user (as nobody's uid). Nothing outside the fixture's temporary directory
and that namespace changes.

`exim_mta` (session scope) starts Exim with its own configuration, spool and log in a fresh
temporary directory, listening on 127.0.0.1 on a port this run holds (tests.ports), without
DNS: mail for

- `<anyone>@local.test` finds no router: "Unrouteable address" (a hard bounce);
- `<anyone>@policy.test` goes to an in-process SMTP server refusing it with a blocklist reply
  (554 5.7.1);
- `<anyone>@unreachable.test` goes to a port where nothing listens (with no retry rules, Exim
  gives up at once);

and Exim's bounces, like all mail to `bounces.test`, go to that SMTP server, where
`exim_mta.wait_for(count)` returns them. Skipped unless EXIM_ROOT holds the unpacked package
and the tests run as root (which `unshare --mount` needs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.ports import closed_port, server_port
from tests.postfix_server import PostfixMta, _Sink, _wait_until_listening

REPOSITORY = Path(__file__).resolve().parent.parent
EXIM_ROOT = Path(os.environ.get("EXIM_ROOT", REPOSITORY / "var" / "exim"))
EXIM = EXIM_ROOT / "usr" / "sbin" / "exim4"
LIBRARIES = EXIM_ROOT / "usr" / "lib" / "x86_64-linux-gnu"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
NOBODY = 65534

CONFIG = """\
primary_hostname = mx.exim.test
exim_path = {base}/exim
spool_directory = {base}/spool
log_file_path = {base}/log/%slog
pid_file_path = {base}/exim.pid
daemon_smtp_ports = {port}
local_interfaces = 127.0.0.1
domainlist local_domains = local.test
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
keep_environment =
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  accept hosts = 127.0.0.1
  deny

begin routers
to_sink:
  driver = manualroute
  domains = policy.test : bounces.test
  transport = sink_smtp
  route_list = * 127.0.0.1
  self = send
unreachable:
  driver = manualroute
  domains = unreachable.test
  transport = closed_smtp
  route_list = * 127.0.0.1
  self = send

begin transports
sink_smtp:
  driver = smtp
  port = {sink_port}
  allow_localhost = true
closed_smtp:
  driver = smtp
  port = {closed_port}
  allow_localhost = true

begin retry

begin rewrite
"""


def _configure(base: Path, port: int, sink_port: int) -> None:
    for name in ("spool", "log"):
        (base / name).mkdir()
        os.chown(base / name, NOBODY, NOBODY)
    # Exim runs itself again by exim_path: a wrapper that finds the unpacked libidn. The
    # package's binary is setuid root, and a setuid program ignores LD_LIBRARY_PATH: a copy
    # without the bit is run (as root, or as the exim user where Exim drops to it).
    # The library is copied too: the exim user must reach it, and the repository may lie in a
    # folder only root can enter (a clone in `mktemp -d`).
    binary = base / "exim4"
    shutil.copyfile(EXIM, binary)
    binary.chmod(0o755)
    libraries = base / "lib"
    shutil.copytree(LIBRARIES, libraries)
    wrapper = base / "exim"
    wrapper.write_text(f'#!/bin/sh\nLD_LIBRARY_PATH={libraries} exec {binary} "$@"\n')
    wrapper.chmod(0o755)
    config = CONFIG.format(base=base, port=port, sink_port=sink_port, closed_port=closed_port())
    (base / "exim.conf").write_text(config)
    passwd = Path("/etc/passwd").read_text() + f"Debian-exim:x:{NOBODY}:{NOBODY}::/:/bin/false\n"
    (base / "passwd").write_text(passwd)
    (base / "group").write_text(Path("/etc/group").read_text() + f"Debian-exim:x:{NOBODY}:\n")


def _start(base: Path) -> subprocess.Popen:
    script = (
        f"mount --bind {base}/passwd /etc/passwd && mount --bind {base}/group /etc/group && "
        f"exec {base}/exim -C {base}/exim.conf -bdf -q1s"
    )
    with (base / "exim.out").open("wb") as output:
        return subprocess.Popen(
            [UNSHARE, "--mount", "sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture(scope="session")
def exim_mta() -> Iterator[PostfixMta]:
    if not EXIM.exists() or os.geteuid() != 0:
        pytest.skip(f"needs Exim unpacked in {EXIM_ROOT} (.ci/run does it) and root")
    base = Path(tempfile.mkdtemp(prefix="massmail-exim-"))
    os.chmod(base, 0o755)
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=server_port())
    controller.start()
    port = server_port()
    process = None
    try:
        _configure(base, port, controller.port)
        process = _start(base)
        _wait_until_listening(port, base)
        # The same interface as Postfix's fixture; its log is Exim's main log.
        mta = PostfixMta(base=base, port=port, sink=sink)
        mta.log_name = "log/mainlog"
        yield mta
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        controller.stop()
        shutil.rmtree(base, ignore_errors=True)
