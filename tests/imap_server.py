"""A real Dovecot IMAP server for the tests that read a mailbox (bounce processing).

`imap_server` (session scope) starts a private Dovecot instance: its config file, runtime
directories, log, passwd-file and Maildir storage all live in a fresh temporary directory,
and it listens on 127.0.0.1 on a port this run holds (tests.ports), so parallel test runs do
not meet. The system's own Dovecot service and /etc/dovecot are not used. `imap_mailbox`
(function scope) hands out the same server emptied, so each test starts with an empty INBOX
and no other folders.

Use it from a test module (or later a conftest) with
`from tests.imap_server import imap_mailbox, imap_server  # noqa: F401`.

Dovecot refuses to run mail processes as root, so when the tests run as root (as in CI) the
mailbox belongs to the unprivileged `nobody` user; as any other user, Dovecot runs entirely
as that user.
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ports import server_port

DOVECOT = Path("/usr/sbin/dovecot")
USERNAME = "bounces@example.test"
PASSWORD = "bounce-secret"
START_TIMEOUT = 10.0  # seconds for Dovecot to accept a LOGIN
STOP_TIMEOUT = 10.0  # seconds for Dovecot to exit after SIGTERM
# The user that owns the mailbox when the tests run as root: it must not be root, and its
# uid must be within first_valid_uid..last_valid_uid (set from it below).
ROOT_MAIL_USER = "nobody"

# The services that Dovecot's defaults chroot, which only root can do (`doveconf -a`).
CHROOTED_SERVICES = (
    "aggregator",
    "anvil",
    "imap-login",
    "imap-urlauth-login",
    "ipc",
    "old-stats",
)

# One FETCH response line: `1 (UID 7 FLAGS (\Seen \Recent))`.
_FETCH_RE = re.compile(rb"UID (\d+) FLAGS \(([^)]*)\)")
# One LIST response line: `(\HasNoChildren) "." INBOX` or `(...) "." "Sent Items"`.
_LIST_RE = re.compile(rb'\((?P<flags>[^)]*)\) (?P<delimiter>"[^"]*"|NIL) (?P<name>.+)')


def _quote(mailbox: str) -> str:
    """A mailbox name as an IMAP quoted string (imaplib sends arguments as they are)."""
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(name: bytes) -> str:
    """The mailbox name from a LIST response: an atom or a quoted string."""
    text = name.decode()
    if text.startswith('"') and text.endswith('"'):
        text = re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _check(response: tuple[str, list], what: str) -> list:
    """The data of an imaplib (typ, data) response; raises unless typ is OK."""
    typ, data = response
    if typ != "OK":
        raise imaplib.IMAP4.error(f"{what} failed: {typ} {data!r}")
    return data


@dataclass
class ImapServer:
    """A running Dovecot with one user; the helpers talk to it over IMAP like a client."""

    host: str
    port: int
    username: str
    password: str

    def connect(self) -> imaplib.IMAP4:
        """A new connection, logged in as the user; the caller logs out."""
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            imap.login(self.username, self.password)
        except BaseException:
            imap.shutdown()
            raise
        return imap

    def folders(self) -> list[str]:
        """The names of every folder of the user, INBOX included."""
        imap = self.connect()
        try:
            return self._folders(imap)
        finally:
            imap.logout()

    def append(self, raw: bytes, folder: str = "INBOX", seen: bool = False) -> None:
        """Stores a message in `folder` (created if missing), flagged \\Seen if `seen`."""
        imap = self.connect()
        try:
            if folder.upper() != "INBOX" and folder not in self._folders(imap):
                _check(imap.create(_quote(folder)), f"CREATE {folder}")
            flags = r"(\Seen)" if seen else None
            _check(imap.append(_quote(folder), flags, None, raw), f"APPEND to {folder}")
        finally:
            imap.logout()

    def messages(self, folder: str = "INBOX") -> list[tuple[int, set[str]]]:
        """(UID, flags) of every message in `folder`, by UID; flags like "\\Seen".

        \\Recent is left out: it belongs to whichever session saw the message first, so it
        would differ depending on whether the code under test has opened the folder.
        """
        imap = self.connect()
        try:
            _check(imap.select(_quote(folder), readonly=True), f"SELECT {folder}")
            data = _check(imap.uid("FETCH", "1:*", "(FLAGS)"), f"UID FETCH in {folder}")
        finally:
            imap.logout()
        messages = []
        for item in data:
            if item is None:  # an empty folder answers with no FETCH lines
                continue
            line = item[0] if isinstance(item, tuple) else item
            match = _FETCH_RE.search(line)
            if match is None:
                raise imaplib.IMAP4.error(f"unexpected FETCH response: {line!r}")
            uid, flags = match.groups()
            flag_set = {flag.decode() for flag in flags.split()} - {r"\Recent"}
            messages.append((int(uid), flag_set))
        return sorted(messages)

    def clear(self) -> None:
        """Deletes every message in every folder, and every folder but INBOX."""
        imap = self.connect()
        try:
            # Deepest folders first, so a parent is empty of children when it goes.
            for folder in sorted(self._folders(imap), key=len, reverse=True):
                exists = _check(imap.select(_quote(folder)), f"SELECT {folder}")
                if int(exists[0]):  # "1:*" is an invalid message set in an empty folder
                    flags = r"(\Deleted)"
                    _check(imap.store("1:*", "+FLAGS.SILENT", flags), f"STORE in {folder}")
                    _check(imap.expunge(), f"EXPUNGE in {folder}")
                _check(imap.close(), f"CLOSE {folder}")
                if folder.upper() != "INBOX":
                    _check(imap.delete(_quote(folder)), f"DELETE {folder}")
        finally:
            imap.logout()

    @staticmethod
    def _folders(imap: imaplib.IMAP4) -> list[str]:
        folders = []
        for line in _check(imap.list(), "LIST"):
            if line is None:
                continue
            if isinstance(line, tuple):  # a name sent as a literal: `(...) "." {5}`, name
                folders.append(line[1].decode())
                continue
            match = _LIST_RE.match(line)
            if match is None:
                raise imaplib.IMAP4.error(f"unexpected LIST response: {line!r}")
            folders.append(_unquote(match["name"]))
        return folders


def _mail_user() -> pwd.struct_passwd:
    """The system user that owns the mailbox and runs the IMAP processes."""
    if os.geteuid() == 0:
        try:
            return pwd.getpwnam(ROOT_MAIL_USER)
        except KeyError:
            pytest.skip(f"the Dovecot fixture needs the system user {ROOT_MAIL_USER!r}")
    return pwd.getpwuid(os.geteuid())


def _config(root: Path, port: int, mail_user: pwd.struct_passwd) -> str:
    """dovecot.conf for a private instance under `root` (no file outside it is read)."""
    if os.geteuid() == 0:
        # Dovecot's own unprivileged users (Debian creates them with the package).
        process_users = ""
        chroots = ""
    else:
        # Not root: every process runs as the current user, and nothing can chroot.
        process_users = (
            f"default_internal_user = {mail_user.pw_name}\n"
            f"default_internal_group = {grp.getgrgid(mail_user.pw_gid).gr_name}\n"
            f"default_login_user = {mail_user.pw_name}\n"
        )
        chroots = "".join(f"service {name} {{\n  chroot =\n}}\n" for name in CHROOTED_SERVICES)
    return f"""\
# A private Dovecot for the tests (tests/imap_server.py); nothing here is system-wide.
base_dir = {root}/run
state_dir = {root}/state
instance_name = dovecot-test-{port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
auth_verbose = yes
{process_users}
protocols = imap
listen = 127.0.0.1
# Plain LOGIN on a TCP connection to 127.0.0.1, no TLS: only the tests connect.
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Answer a wrong password at once, and do not slow down the logins after it (the penalty
# per client IP): the tests check refusals, and every client comes from 127.0.0.1.
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

# Mail processes never run as root: only the mail user's uid is valid.
first_valid_uid = {mail_user.pw_uid}
last_valid_uid = {mail_user.pw_uid}
first_valid_gid = {mail_user.pw_gid}
last_valid_gid = {mail_user.pw_gid}
mail_location = maildir:~/Maildir

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}

service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  # The built-in defaults also listen for IMAPS on 993: not here.
  inet_listener imaps {{
    port = 0
  }}
}}
{chroots}"""


def _prepare(root: Path, port: int) -> Path:
    """Writes the config, passwd-file and an empty home under `root`; returns the config."""
    mail_user = _mail_user()
    # mkdtemp makes `root` 0700; Dovecot's unprivileged processes (auth reads the
    # passwd-file, imap opens the Maildir) must be able to pass through it.
    root.chmod(0o755)
    home = root / "home" / "bounces"
    home.mkdir(parents=True)
    for path in (root / "home", home):
        os.chown(path, mail_user.pw_uid, mail_user.pw_gid)
    # user:password:uid:gid:gecos:home:shell
    passwd = root / "passwd"
    passwd.write_text(
        f"{USERNAME}:{{PLAIN}}{PASSWORD}:{mail_user.pw_uid}:{mail_user.pw_gid}::{home}::\n"
    )
    passwd.chmod(0o644)
    config = root / "dovecot.conf"
    config.write_text(_config(root, port, mail_user))
    return config


def _log(root: Path) -> str:
    """What Dovecot said so far: its log file and its own stdout/stderr."""
    parts = []
    for name in ("dovecot.log", "dovecot.out"):
        path = root / name
        if path.exists():
            parts.append(f"--- {name} ---\n{path.read_text(errors='replace')}")
    return "\n".join(parts) or "(Dovecot wrote no log)"


def _stop(process: subprocess.Popen) -> None:
    """Stops Dovecot (the master stops its children on SIGTERM); kills it if it hangs."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until_ready(process: subprocess.Popen, server: ImapServer) -> bool:
    """True once a LOGIN works; False if Dovecot exits or START_TIMEOUT passes first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            server.connect().logout()
        except (OSError, imaplib.IMAP4.error):
            time.sleep(0.1)  # not listening yet, or auth not up yet
            continue
        return True
    return False


def _start(root: Path) -> tuple[subprocess.Popen, ImapServer]:
    """Starts Dovecot under `root` and waits for it."""
    port = server_port()
    config = _prepare(root, port)
    server = ImapServer("127.0.0.1", port, USERNAME, PASSWORD)
    with (root / "dovecot.out").open("wb") as output:
        process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    if not _wait_until_ready(process, server):
        _stop(process)
        raise RuntimeError(f"Dovecot did not accept a LOGIN on 127.0.0.1:{port}\n{_log(root)}")
    return process, server


@pytest.fixture(scope="session")
def imap_server() -> Iterator[ImapServer]:
    """A private Dovecot IMAP server for the whole session, with one user and no TLS."""
    if not DOVECOT.exists():
        pytest.skip("needs Dovecot: apt-get install dovecot-imapd (.ci/run installs it)")
    root = Path(tempfile.mkdtemp(prefix="dovecot-test-"))
    try:
        process, server = _start(root)
        try:
            yield server
        finally:
            _stop(process)
    finally:
        # Dovecot's children (the log process) can still be exiting as the master has
        # gone: what they leave in a fresh temp dir must not fail the session.
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def imap_mailbox(imap_server: ImapServer) -> ImapServer:
    """The session's IMAP server with no messages and no folder but an empty INBOX."""
    imap_server.clear()
    return imap_server
