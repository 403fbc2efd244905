"""A real Postfix (Debian's package) that bounces our mail, for the bounce tests.

`postfix_mta` (session scope) starts a private Postfix instance: its main.cf and master.cf,
queue, data directory, mailboxes and log all live in a fresh temporary directory (`postfix -c`),
it listens on 127.0.0.1 only, on a port this run holds (tests.ports), and it never looks up
DNS nor sends anywhere but loopback: every destination domain is routed by its transport map
to 127.0.0.1. The system's Postfix configuration (/etc/postfix) and queue are not used.

Mail submitted to it for

- `<anyone>@local.test` is delivered by local(8), which bounces unknown users (5.1.1);
- `full@full.test` is delivered by virtual(8) into an mbox that is at its limit (5.2.2);
- `<anyone>@unreachable.test` goes to a port where nothing listens (4.4.1, returned at once:
  maximal_queue_lifetime = 0, so every failure is final);
- `<anyone>@policy.test` goes to an SMTP server (aiosmtpd, in-process) that refuses the
  recipient with a blocklist reply (554 5.7.1);

Its smtpd itself refuses two recipients at RCPT time, as a receiving server does:
REFUSED_BLOCKED (554 5.7.1, a blocklisting) and REFUSED_UNKNOWN (554 5.1.1). The bounces
Postfix writes go, like all mail to `bounces.test`, to an in-process SMTP sink:
`postfix_mta.wait_for(count)` returns the DSNs it received, as bytes, exactly as sent.

Postfix runs as root here (as in CI) and drops to its `postfix` user; the tests are skipped
when /usr/sbin/postfix is missing or the tests do not run as root.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.ports import closed_port, server_port

POSTFIX = Path("/usr/sbin/postfix")
DAEMONS = Path("/usr/lib/postfix/sbin")
REFUSED_BLOCKED = "refused-blocked@local.test"  # smtpd refuses it at RCPT: 554 5.7.1
REFUSED_UNKNOWN = "refused-unknown@local.test"  # smtpd refuses it at RCPT: 554 5.1.1
MAILBOX_LIMIT = 65536  # bytes, for the full mailbox; also the largest message accepted
WAIT = 30.0  # seconds for Postfix to start, or to return a bounce
BLOCKLIST_REPLY = (
    "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.example"
)

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {base}/queue
data_directory = {base}/data
command_directory = /usr/sbin
daemon_directory = {daemons}
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-massmail-test
maillog_file = {base}/maillog
maillog_file_prefixes = {base}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.postfix.test
mydomain = postfix.test
myorigin = postfix.test
mydestination = local.test
mynetworks = 127.0.0.0/8
local_recipient_maps =
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
relayhost =
transport_maps = texthash:{base}/transport
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = check_recipient_access texthash:{base}/access, permit_mynetworks,
    reject_unauth_destination
maximal_queue_lifetime = 0
bounce_queue_lifetime = 0
delay_warning_time = 0h
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
virtual_mailbox_domains = full.test
virtual_mailbox_base = {base}/vmail
virtual_mailbox_maps = texthash:{base}/vmailbox
virtual_mailbox_limit = {limit}
message_size_limit = {limit}
virtual_minimum_uid = 1
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
"""

MASTER_CF = """\
{port}  inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@dataclass
class _Sink:
    """The SMTP server that receives Postfix's bounces (and refuses policy.test recipients)."""

    received: list[bytes] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith("@policy.test"):
            return BLOCKLIST_REPLY
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.arrived:
            self.received.append(envelope.original_content or envelope.content)
            self.arrived.notify_all()
        return "250 OK: queued"


@dataclass
class PostfixMta:
    """A running private Postfix; see the module."""

    base: Path
    port: int
    sink: _Sink
    log_name: str = "maillog"

    def send(self, envelope_from: str, recipient: str, data: bytes) -> None:
        """Submit one message over SMTP, as our sender does."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=WAIT) as connection:
            connection.sendmail(envelope_from, [recipient], data)

    def wait_for(self, count: int) -> list[bytes]:
        """The first `count` messages the sink received; fails after WAIT seconds."""
        deadline = time.monotonic() + WAIT
        with self.sink.arrived:
            while len(self.sink.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(
                        f"Postfix returned {len(self.sink.received)} of {count} bounces; "
                        f"its log:\n{self.log()}"
                    )
                self.sink.arrived.wait(left)
            return list(self.sink.received[:count])

    def clear(self) -> None:
        with self.sink.arrived:
            self.sink.received.clear()

    def log(self) -> str:
        path = self.base / self.log_name
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


def _configure(base: Path, port: int, sink_port: int) -> None:
    nobody = 65534
    (base / "queue").mkdir()
    (base / "data").mkdir()
    shutil.chown(base / "data", "postfix")
    (base / "vmail").mkdir()
    os.chown(base / "vmail", nobody, nobody)
    # The full mailbox: nearly at its limit already, so any message makes it overflow.
    full = base / "vmail" / "full"
    full.write_bytes(b"From x\n" + b"x" * (MAILBOX_LIMIT - 64) + b"\n")
    os.chown(full, nobody, nobody)
    main = MAIN_CF.format(base=base, daemons=DAEMONS, uid=nobody, gid=nobody, limit=MAILBOX_LIMIT)
    (base / "main.cf").write_text(main)
    (base / "master.cf").write_text(MASTER_CF.format(port=f"127.0.0.1:{port}"))
    closed = closed_port()
    (base / "transport").write_text(
        f"unreachable.test smtp:[127.0.0.1]:{closed}\n"
        f"policy.test smtp:[127.0.0.1]:{sink_port}\n"
        f"bounces.test smtp:[127.0.0.1]:{sink_port}\n"
    )
    (base / "vmailbox").write_text("full@full.test full\n")
    (base / "access").write_text(
        f"{REFUSED_BLOCKED} REJECT 5.7.1 Message rejected: your IP is listed on bl.example\n"
        f"{REFUSED_UNKNOWN} REJECT 5.1.1 <{REFUSED_UNKNOWN}>: Recipient address rejected: "
        "User unknown\n"
    )


def _postfix(base: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(POSTFIX), "-c", str(base), *args], capture_output=True, text=True, timeout=WAIT
    )


def _wait_until_listening(port: int, base: Path) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=2) as connection:
                connection.noop()
                return
        except OSError:
            time.sleep(0.1)  # polling for a daemon's socket to open; not a timing assumption
    log = (base / "maillog").read_text() if (base / "maillog").exists() else ""
    raise RuntimeError(f"Postfix did not listen on {port}:\n{log[-3000:]}")


def _stop(base: Path) -> None:
    """Stop Postfix and wait (bounded) for its master to exit before its files go."""
    pid_file = base / "queue" / "pid" / "master.pid"
    pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
    _postfix(base, "stop")
    deadline = time.monotonic() + WAIT
    while pid is not None and time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status")
        if not status.exists() or "\nState:\tZ" in status.read_text():
            return
        time.sleep(0.1)  # polling for the process to exit


@pytest.fixture(scope="session")
def postfix_mta() -> Iterator[PostfixMta]:
    if not POSTFIX.exists() or os.geteuid() != 0:
        pytest.skip("needs Debian's postfix package and root (CI has both)")
    base = Path(tempfile.mkdtemp(prefix="massmail-postfix-"))
    os.chmod(base, 0o755)
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=server_port())
    controller.start()
    port = server_port()
    try:
        _configure(base, port, controller.port)
        started = _postfix(base, "start")
        if started.returncode != 0:
            raise RuntimeError(f"postfix start failed: {started.stderr}{started.stdout}")
        _wait_until_listening(port, base)
        yield PostfixMta(base=base, port=port, sink=sink)
    finally:
        _stop(base)
        controller.stop()
        shutil.rmtree(base, ignore_errors=True)
