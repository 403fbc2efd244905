"""Reading group email accounts' mailboxes for bounces: the job "Check Group Email Accounts".

Every active account with "check for bounces" on is read over IMAP (its security mode: none,
STARTTLS or SSL/TLS; every network operation times out after settings.IMAP_TIMEOUT seconds).
Only messages newer than the last one read are fetched: the account keeps the folder's
UIDVALIDITY and the last UID it read, so a folder that was re-created is read again from its
start. Messages are fetched FETCH_BATCH at a time with BODY.PEEK, which marks nothing; a
bounce, delay warning or complaint that tracking.bounces recognises is recorded, and its message
flagged \\Seen at the end of the run; every other message is left exactly as it was.

A run reads every new message, however many (10,000 bounces after a big send are one run),
bounded by time rather than by a count: after settings.BOUNCE_CHECK_SECONDS the run stops
between two batches, and the next run resumes at the next UID.

The last UID moves in the transaction that records a batch's bounces, under a lock on the
account's row: a run that dies halfway resumes after the last batch it finished (the batch it
was in is read again, and recorded once), and two runs at once (beat and cron, say) take turns
batch by batch, never recording a message twice.
"""

import imaplib
import logging
import re
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from crm.models import EmailAccount, Security
from crm.secrets import SecretUnreadable
from tracking import bounces

logger = logging.getLogger(__name__)

FETCH_BATCH = 200  # messages per UID FETCH: one round trip each, a bounded response
STORE_BATCH = 1000  # UIDs per STORE that flags recognised messages \\Seen
FETCHED_UID = re.compile(rb"\bUID (\d+)")


class MailboxFailure(Exception):
    """A mailbox could not be read. str() is a sentence for the administrator."""


@dataclass
class MailboxResult:
    """What one run did with one account's mailbox."""

    account: EmailAccount
    read: int = 0
    hard: int = 0
    soft: int = 0
    blocked: int = 0
    delayed: int = 0
    complaint: int = 0
    left_alone: int = 0
    waiting: int = 0  # new messages left for the next run when the time was up
    error: str = ""

    def __str__(self) -> str:
        if self.error:
            return _("%(account)s: %(error)s") % {"account": self.account.name, "error": self.error}
        text = _(
            "%(account)s: %(read)s new messages, %(hard)s hard bounces, %(soft)s soft bounces, "
            "%(blocked)s blocked, %(delayed)s delay warnings, %(complaint)s complaints, "
            "%(left)s left alone"
        ) % {
            "account": self.account.name,
            "read": self.read,
            "hard": self.hard,
            "soft": self.soft,
            "blocked": self.blocked,
            "delayed": self.delayed,
            "complaint": self.complaint,
            "left": self.left_alone,
        }
        if self.waiting:
            text += _(" (%(count)s more wait for the next run)") % {"count": self.waiting}
        return text


def accounts_to_check():
    return EmailAccount.objects.filter(is_active=True, monitor_bounces=True).order_by("name")


def check_all() -> list[MailboxResult]:
    """Read every account set to be checked; one result each, failures included. The accounts
    share the run's time (settings.BOUNCE_CHECK_SECONDS)."""
    deadline = time.monotonic() + settings.BOUNCE_CHECK_SECONDS
    return [check_account(account, deadline) for account in accounts_to_check()]


def check_account(account: EmailAccount, deadline: float | None = None) -> MailboxResult:
    """Read the account's new messages (until `deadline`, a time.monotonic() value; by default
    settings.BOUNCE_CHECK_SECONDS from now) and record their bounces; never raises for the
    mailbox's own failures (they are in the result's `error`)."""
    if deadline is None:
        deadline = time.monotonic() + settings.BOUNCE_CHECK_SECONDS
    result = MailboxResult(account)
    try:
        imap = connect(account)
    except MailboxFailure as exc:
        result.error = str(exc)
        return result
    try:
        _read_new(imap, account, result, deadline)
    except (imaplib.IMAP4.error, OSError) as exc:
        result.error = _("the mailbox stopped answering: %(error)s") % {"error": exc}
    except MailboxFailure as exc:
        result.error = str(exc)
    finally:
        _logout(imap)
    return result


def connect(account: EmailAccount, timeout: float | None = None) -> imaplib.IMAP4:
    """A logged-in IMAP session for the account; raises MailboxFailure in plain words."""
    timeout = timeout or settings.IMAP_TIMEOUT
    host, port = account.imap_host.strip(), account.imap_port
    if not host:
        raise MailboxFailure(_("No IMAP host is configured."))
    imap = None
    try:
        password = account.imap_password
        if account.imap_security == Security.SSL:
            context = ssl.create_default_context()
            imap = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=timeout)
        else:
            imap = imaplib.IMAP4(host, port, timeout=timeout)
        if account.imap_security == Security.STARTTLS:
            imap.starttls(ssl_context=ssl.create_default_context())
        imap.login(account.imap_username, password)
        return imap
    except (SecretUnreadable, imaplib.IMAP4.error, OSError) as exc:
        _logout(imap)
        raise MailboxFailure(_failure_message(exc, host, port, timeout)) from exc


def _failure_message(exc: Exception, host: str, port: int, timeout: float) -> str:
    """Why connecting or logging in failed, in words (SSLError and TimeoutError are OSErrors:
    they are told apart first)."""
    where = {"host": host, "port": port}
    if isinstance(exc, SecretUnreadable):
        return _("The stored IMAP password cannot be read (SECRET_KEY changed?). Enter it again.")
    if isinstance(exc, imaplib.IMAP4.error):
        return _("The IMAP server %(host)s refused the login: %(error)s") % {
            "host": host,
            "error": _text(exc),
        }
    if isinstance(exc, ssl.SSLError):
        message = _("TLS with the IMAP server %(host)s:%(port)s failed: %(error)s")
        return message % {**where, "error": exc}
    if isinstance(exc, TimeoutError):
        message = _("The IMAP server %(host)s:%(port)s did not answer within %(seconds)s seconds.")
        return message % {**where, "seconds": timeout}
    message = _("Cannot connect to the IMAP server %(host)s:%(port)s: %(error)s")
    return message % {**where, "error": exc.strerror or exc}


def _read_new(
    imap: imaplib.IMAP4, account: EmailAccount, result: MailboxResult, deadline: float
) -> None:
    validity, uids = _new_uids(imap, account)
    recognised: list[int] = []
    batches = [uids[start : start + FETCH_BATCH] for start in range(0, len(uids), FETCH_BATCH)]
    # The next batch is fetched while this one is recorded: the IMAP server works meanwhile.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap-fetch") as fetcher:
        pending = fetcher.submit(_fetch, imap, batches[0]) if batches else None
        for number, _batch in enumerate(batches):
            if time.monotonic() >= deadline:
                result.waiting = sum(map(len, batches[number:]))
                break
            fetched = pending.result()
            more = number + 1 < len(batches)
            pending = fetcher.submit(_fetch, imap, batches[number + 1]) if more else None
            _count(result, _process(account.pk, validity, fetched), recognised)
        if pending is not None:
            pending.result()  # the connection must be done answering before the STORE
    # Flagged once at the end: with Maildir storage every flag change renames files, and a
    # STORE between two FETCHes makes the server rescan the folder (quadratic on 10,000).
    for start in range(0, len(recognised), STORE_BATCH):
        uid_set = _uid_set(recognised[start : start + STORE_BATCH])
        imap.uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Seen)")


def _count(result: MailboxResult, outcomes: dict[int, str], recognised: list[int]) -> None:
    for uid, outcome in outcomes.items():
        result.read += 1
        if outcome:
            setattr(result, outcome, getattr(result, outcome) + 1)
            recognised.append(uid)
        else:
            result.left_alone += 1


def _new_uids(imap: imaplib.IMAP4, account: EmailAccount) -> tuple[int, list[int]]:
    """Open the account's folder: its UIDVALIDITY and the UIDs not read yet, in order."""
    status, _data = imap.select(_quoted(account.imap_folder))
    if status != "OK":
        raise MailboxFailure(
            _("The folder “%(folder)s” cannot be opened.") % {"folder": account.imap_folder}
        )
    sent_validity = imap.response("UIDVALIDITY")[1][0]
    if sent_validity is None:
        raise MailboxFailure(_("The IMAP server sent no UIDVALIDITY for the folder."))
    validity = int(sent_validity)
    last = account.imap_last_uid if account.imap_uid_validity == validity else 0
    status, data = imap.uid("SEARCH", None, f"UID {last + 1}:*")
    # "n:*" names the last message even when its UID is below n: keep only newer ones.
    return validity, sorted(uid for uid in map(int, data[0].split()) if uid > last)


def _uid_set(uids: list[int]) -> str:
    """An IMAP sequence set for sorted `uids`, runs written as ranges: "3:7,9,12:20"."""
    runs: list[list[int]] = []
    for uid in uids:
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(f"{a}:{b}" if a != b else str(a) for a, b in runs)


def _fetch(imap: imaplib.IMAP4, uids: list[int]) -> list[tuple[int, bytes]]:
    """(uid, message) of each of `uids` still there, in UID order, in one round trip."""
    status, data = imap.uid("FETCH", _uid_set(uids), "(UID BODY.PEEK[])")
    if status != "OK":
        raise MailboxFailure(
            _("The IMAP server refused to send messages: %(error)s")
            % {"error": _text(imaplib.IMAP4.error(data[0] if data else status))}
        )
    fetched = {}
    for part in data:
        if isinstance(part, tuple) and (found := FETCHED_UID.search(part[0])):
            fetched[int(found.group(1))] = part[1]
    return sorted(fetched.items())  # an expunged message is simply absent


def _process(account_id: int, validity: int, fetched: list[tuple[int, bytes]]) -> dict:
    """Record what a batch of messages reports and move the account past it, in one
    transaction: {uid: the report's kind (bounces.HARD, SOFT, BLOCKED, DELAYED or COMPLAINT),
    or "" for a message left alone}, without the messages another run has read already."""
    parsed = [(uid, _parsed(uid, raw)) for uid, raw in fetched]
    with transaction.atomic():
        account = EmailAccount.objects.select_for_update().get(pk=account_id)
        if account.imap_uid_validity == validity:
            parsed = [(uid, bounce) for uid, bounce in parsed if uid > account.imap_last_uid]
        if not parsed:
            return {}
        bounces.record_all([bounce for _uid, bounce in parsed if bounce is not None])
        account.imap_uid_validity, account.imap_last_uid = validity, parsed[-1][0]
        account.save(update_fields=["imap_uid_validity", "imap_last_uid"])
    return {uid: bounce.kind if bounce is not None else "" for uid, bounce in parsed}


def _parsed(uid: int, raw: bytes) -> bounces.Bounce | None:
    """bounces.parse(); a message it cannot read is logged and left alone, so one odd
    message never stops the mailbox."""
    try:
        return bounces.parse(raw)
    except Exception:  # noqa: BLE001 (arbitrary mail from anywhere)
        logger.exception("message UID %s could not be read; it is left alone", uid)
        return None


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(exc: Exception) -> str:
    value = exc.args[0] if exc.args else exc
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _logout(imap: imaplib.IMAP4 | None) -> None:
    if imap is None:
        return
    try:
        imap.logout()
    except (imaplib.IMAP4.error, OSError) as exc:
        logger.debug("IMAP logout failed (the session is over either way): %s", exc)
