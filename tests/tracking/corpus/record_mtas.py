"""Record the bounces a real Postfix and a real Exim write, for the corpus (own/postfix-*.eml,
own/exim-*.eml). Run by hand, as root, from the repository root:

    .venv/bin/python -m tests.tracking.corpus.record_mtas

It starts the private Postfix and Exim of the tests (tests/postfix_server.py,
tests/exim_server.py) and, in-process, the remote servers they deliver to: one that answers
each recipient at RCPT TO (or at the end of DATA) with a reply real servers give (REPLIES), one
that refuses our MAIL FROM, one that refuses our HELO. Every message goes out from
news@bounces.test, as our newsletter would; each bounce the MTA sends back is written as it
arrived, and the manifest lines to add are printed. Nothing is read from the network.
"""

import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller

from tests import exim_server, postfix_server
from tests.postfix_server import _free_port, _Sink

OWN = Path(__file__).resolve().parent / "own"
SENDER = "news@bounces.test"

# (name, where the remote refuses, its reply, outcome, note): replies as servers write them.
REPLIES = [
    (
        "postfix-unknown",
        "rcpt",
        "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table",
        "hard",
        "Postfix virtual: user unknown",
    ),
    (
        "gmail-nosuchuser",
        "rcpt",
        "550 5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces.",
        "hard",
        "Gmail: account does not exist",
    ),
    (
        "outlook-unavailable",
        "rcpt",
        "550 5.5.0 Requested action not taken: mailbox unavailable",
        "soft",
        "mailbox unavailable, generic 5.5.0",
    ),
    (
        "bare-unavailable",
        "rcpt",
        "550 Requested action not taken: mailbox unavailable",
        "soft",
        "mailbox unavailable, no enhanced code",
    ),
    ("not-local", "rcpt", "551 User not local; please try <{rcpt}>", "soft", "user not local"),
    ("full", "rcpt", "552 5.2.2 <{rcpt}>: Mailbox full", "soft", "mailbox full"),
    (
        "over-quota-4xx",
        "rcpt",
        "452 4.2.2 The email account that you tried to reach is over quota.",
        "soft",
        "temporary over quota, given up at once",
    ),
    (
        "disabled",
        "rcpt",
        "550 5.2.1 The email account that you tried to reach is disabled.",
        "hard",
        "Gmail: account disabled",
    ),
    (
        "temporarily-disabled",
        "rcpt",
        "550 5.2.1 <{rcpt}>: mailbox temporarily disabled",
        "soft",
        "5.2.1 but only temporarily",
    ),
    (
        "spamhaus",
        "rcpt",
        "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org",
        "blocked",
        "blocklist",
    ),
    (
        "dmarc",
        "rcpt",
        "550 5.7.26 Unauthenticated email from bounces.test is not accepted due to domain's DMARC "
        "policy.",
        "blocked",
        "DMARC",
    ),
    (
        "tss04",
        "rcpt",
        "421 4.7.0 [TSS04] Messages from 127.0.0.1 temporarily deferred due to unexpected volume "
        "or user complaints",
        "blocked",
        "reputation, temporary code, given up at once",
    ),
    (
        "rcpthosts",
        "rcpt",
        "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
        "blocked",
        "qmail relay refusal",
    ),
    ("unknown-bare", "rcpt", "550 Unknown user {rcpt}", "hard", "no enhanced code"),
    (
        "yahoo-noaccount",
        "rcpt",
        "554 delivery error: dd This user doesn't have a yahoo.com account ({rcpt}) [0]",
        "hard",
        "Yahoo",
    ),
    (
        "policy-generic",
        "rcpt",
        "550 5.0.0 Message rejected for policy reasons",
        "blocked",
        "policy under 5.0.0",
    ),
    ("rejected-bare", "rcpt", "550 Rejected", "soft", "no reason at RCPT"),
    (
        "dbeb",
        "rcpt",
        "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)",
        "hard",
        "Microsoft 365 directory-based edge blocking",
    ),
    (
        "banned-ip",
        "rcpt",
        "550 5.7.606 Access denied, banned sending IP [127.0.0.1].",
        "blocked",
        "Outlook banned IP",
    ),
    ("frozen", "rcpt", "550 Mailbox is frozen.", "soft", "frozen mailbox"),
    (
        "recipnotfound",
        "rcpt",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        "hard",
        "Office 365",
    ),
    (
        "own-511-unavailable",
        "rcpt",
        "550 5.1.1 Requested action not taken: mailbox unavailable",
        "hard",
        "the remote's own 5.1.1",
    ),
    (
        "qmail-nomailbox",
        "rcpt",
        "550 Sorry, no mailbox here by that name. (#5.1.1)",
        "hard",
        "qmail",
    ),
    (
        "rate-511",
        "rcpt",
        "550 5.1.1 <{rcpt}> - 127.0.0.1 has sent to too many recipients this hour. IB607",
        "blocked",
        "rate limit under 5.1.1",
    ),
    ("size", "data", "552 5.3.4 Message size exceeds fixed limit", "soft", "too big, at DATA"),
    (
        "spam-data",
        "data",
        "550 5.7.1 Message rejected as spam by Content Filtering.",
        "blocked",
        "spam at end of DATA",
    ),
    ("rejected-data", "data", "554 Transaction failed", "blocked", "no reason, at end of DATA"),
    ("unknown-data", "data", "550 Unknown user {rcpt}", "hard", "unknown user at end of DATA"),
]
LOCAL = [  # recipients the MTAs refuse themselves, without a remote
    ("local-unknown", "nosuchuser@local.test", "hard", "the MTA's own unknown user"),
    ("unreachable", "someone@unreachable.test", "soft", "nothing listens"),
    ("mail-from", "someone@mailfrom.test", "blocked", "our sender refused at MAIL FROM"),
    ("helo", "someone@helo.test", "blocked", "our HELO refused"),
]
POSTFIX_ONLY = [
    ("full-local", "full@full.test", "soft", "Postfix virtual(8): mailbox full"),
    ("no-such-domain", "someone@nowhere.invalid", "hard", "domain not found"),
]


@dataclass
class Remote(_Sink):
    """The remote server: REPLIES by recipient (policy.test), and the bounces (bounces.test)."""

    at_data: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        name = address.partition("@")[0]
        reply = {n: (stage, text) for n, stage, text, *_rest in REPLIES}.get(name)
        if address.endswith("@policy.test") and reply and reply[0] == "rcpt":
            return reply[1].format(rcpt=address)
        if reply:
            self.at_data[address] = reply[1].format(rcpt=address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        refused = [self.at_data[r] for r in envelope.rcpt_tos if r in self.at_data]
        return refused[0] if refused else await super().handle_DATA(server, session, envelope)


class RefusesSender:
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        return f"553 5.7.1 <{address}>: Sender address rejected: not accepted from your IP"


class RefusesHelo:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        return ["554 5.7.1 Connection refused: your server's name is not accepted here"]

    async def handle_HELO(self, server, session, envelope, hostname):
        return "554 5.7.1 Connection refused: your server's name is not accepted here"


def message(recipient: str) -> bytes:
    """Our newsletter as it leaves for `recipient`."""
    return (
        f"From: Newsletter <{SENDER}>\r\nTo: {recipient}\r\nSubject: November news\r\n"
        f"Message-ID: <{time.time_ns()}@bounces.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nHello, here is our news.\r\n"
    ).encode()


def cases(mta: str) -> list[tuple[str, str, str, str]]:
    found = [
        (name, f"{name}@policy.test", outcome, note) for name, _s, _r, outcome, note in REPLIES
    ]
    found += LOCAL + (POSTFIX_ONLY if mta == "postfix" else [])
    return found


def record(mta: str, port: int, remote: Remote) -> list[str]:
    """Send one message per case through the MTA; write each bounce; the manifest lines."""
    import smtplib

    chosen = cases(mta)
    for _name, recipient, _outcome, _note in chosen:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as connection:
            connection.sendmail(SENDER, [recipient], message(recipient))
    deadline = time.monotonic() + 120
    while len(remote.received) < len(chosen) and time.monotonic() < deadline:
        time.sleep(0.5)  # waiting for the MTA's queue runs; a recording tool, not a test
    lines = []
    for name, recipient, outcome, note in chosen:
        bounce = next((b for b in remote.received if recipient.encode() in b), None)
        if bounce is None:
            print(f"{mta}: no bounce for {recipient}", file=sys.stderr)
            continue
        path = OWN / f"{mta}-{name}.eml"
        path.write_bytes(bounce)
        lines.append(f"own/{path.name},{outcome},{recipient},0,real {mta}: {note}")
    return lines


def controllers() -> tuple[Remote, list[Controller]]:
    remote = Remote()
    started = [Controller(remote, hostname="127.0.0.1", port=_free_port())]
    started += [
        Controller(h, hostname="127.0.0.1", port=_free_port())
        for h in (RefusesSender(), RefusesHelo())
    ]
    for controller in started:
        controller.start()
    return remote, started


def run_postfix() -> list[str]:
    remote, (sink, sender, helo) = controllers()
    base = Path(tempfile.mkdtemp(prefix="record-postfix-"))
    base.chmod(0o755)
    port = _free_port()
    try:
        postfix_server._configure(base, port, sink.port)
        with (base / "transport").open("a") as transport:
            transport.write(f"mailfrom.test smtp:[127.0.0.1]:{sender.port}\n")
            transport.write(f"helo.test smtp:[127.0.0.1]:{helo.port}\n")
        postfix_server._postfix(base, "start")
        postfix_server._wait_until_listening(port, base)
        return record("postfix", port, remote)
    finally:
        postfix_server._stop(base)
        for controller in (sink, sender, helo):
            controller.stop()


def run_exim() -> list[str]:
    remote, (sink, sender, helo) = controllers()
    base = Path(tempfile.mkdtemp(prefix="record-exim-"))
    base.chmod(0o755)
    port = _free_port()
    extra_routers = (
        "mailfrom:\n  driver = manualroute\n  domains = mailfrom.test\n"
        "  transport = mailfrom_smtp\n  route_list = * 127.0.0.1\n  self = send\n"
        "helo:\n  driver = manualroute\n  domains = helo.test\n"
        "  transport = helo_smtp\n  route_list = * 127.0.0.1\n  self = send\n"
    )
    extra_transports = (
        f"mailfrom_smtp:\n  driver = smtp\n  port = {sender.port}\n  allow_localhost = true\n"
        f"helo_smtp:\n  driver = smtp\n  port = {helo.port}\n  allow_localhost = true\n"
    )
    config = exim_server.CONFIG.replace(
        "begin transports\n", extra_routers + "\nbegin transports\n"
    )
    config = config.replace("begin retry\n", extra_transports + "\nbegin retry\n")
    exim_server.CONFIG = config
    process = None
    try:
        exim_server._configure(base, port, sink.port)
        process = exim_server._start(base)
        postfix_server._wait_until_listening(port, base)
        return record("exim", port, remote)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        for controller in (sink, sender, helo):
            controller.stop()


if __name__ == "__main__":
    OWN.mkdir(exist_ok=True)
    for line in run_postfix() + run_exim():
        print(line)
