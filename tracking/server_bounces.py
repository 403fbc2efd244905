"""Bounces in a mail server's own format (not RFC 3464): qmail, Exim, Sendmail, Exchange 5.5…

A message is read here when a mail system sent it:

- by its sender: MAILER-DAEMON, postmaster, "Mail Delivery System", MDaemon, Exchange's system
  mailbox, a null From, Exim's X-Failed-Recipients, a gateway's or virus scanner's name
  (InterScan, MailMarshal…);
- or, for gateways and old servers that send from an ordinary-looking address (InterScan's
  imss@, an SMTP32 or CDO gateway), when it comes back with a null return path, a bounce's
  subject or a machine's sender name AND its words say that a delivery failed.

Never read: an auto-reply (by its subject or words), nor a person's message (sent from the
address it is returned to), even one quoting a server's notice.

flufl.bounce (GNU Mailman's detectors) finds the failed recipients; Exim's
X-Failed-Recipients names them too. Each failed recipient's kind comes from the reply quoted
next to it: the paragraph naming it, Sendmail's "(reason: …)", the SMTP transcript (">>> RCPT
TO" / "<<< 550 …", InterScan's "Received >>> 550 …"), then the server's words anywhere
(campaigns.sending.bounce_kinds); the worst of them is the bounce's. A notice that says the server
is still trying, in its words or its subject, is a delay warning.
"""

import email.errors
import email.header
import logging
import re
from email.message import Message
from email.utils import getaddresses

from flufl.bounce import all_failures

from campaigns.sending.bounce_kinds import (
    BLOCKED,
    ENHANCED,
    HARD,
    REPLY,
    SOFT,
    bounce_kind,
    codes_in,
    kind_by_words,
)
from tracking import notices
from tracking.dsn import DELAYED, FAILED, Recipient, worst

logger = logging.getLogger(__name__)
# flufl.bounce logs every detector it runs at INFO: ten thousand bounces would be 170,000 lines.
logging.getLogger("flufl.bounce").setLevel(logging.WARNING)

MAIL_SYSTEM = re.compile(
    r"^\"?(mailer[-_.]?daemon|mail[-_.]?daemon|maildaemon|post[-_.]?master|poostmaster|mdaemon"
    r"|mailadmin|mail[-_.]?admin(istrator)?|microsoftexchange[0-9a-f]*|mail[-_.]?delivery"
    r"(\.system)?|mailer|smtp[-_.]?gateway|mail[-_.]?router|mail[-_.]?system|nobody|returns?"
    r"|bounces?|double-bounce|mailerdaemon|daemon|system administrator)\"?(@|$)",
    re.IGNORECASE,
)
SYSTEM_NAMES = re.compile(
    r"mail delivery|mailer.?daemon|postmaster|mail administrator|mail router|mail system"
    r"|delivery status notification|mdaemon|system administrator|microsoft exchange"
    r"|microsoft outlook|internet mail|mail server|delivery subsystem|mailer-?daemon"
    r"|interscan|virus ?wall|anti-?virus|content.?filter|mail ?marshal|mimesweeper|scanmail"
    r"|mail gateway|ndr administrator|lsmtp|mail deliver",
    re.IGNORECASE,
)
# Senders of gateways' and scanners' notices that look like ordinary addresses.
MACHINE_SENDER = re.compile(
    r"^(no-?reply|do-?not-?reply|imss|[\w.-]*gw\d*|gateway|notif\w*|\w*virus\w*|\w*scan\w*"
    r"|\w*filter\w*|smtp\w*|mta\w*|\w*admin\w*|e\d+_smtp\w*)@",
    re.IGNORECASE,
)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|returned mail|delivery (status|failure|failed|notification|report"
    r"|problem)|failure notice|mail delivery failed|non.?deliver|not delivered|could not be "
    r"delivered|delivery has failed|mail system error|permanent (error|failure)|rejected"
    r"|returned mail|failure delivery|failed delivery|error sending|delivery notification",
    re.IGNORECASE,
)
# A subject that says the delivery failed, not only that there is news of it.
FAILED_SUBJECT = re.compile(
    r"undeliver|returned mail|fail|not delivered|could not be delivered|non.?deliver|rejected"
    r"|error",
    re.IGNORECASE,
)
# Sendmail quotes the remote reply as "(reason: 550 5.1.1 …)" and writes its own summary
# line after the transcript, which can contradict it.
REASON = re.compile(r"\(reason: ([^)\n]+)\)", re.IGNORECASE)
MOST_RECIPIENTS = 5  # failed recipients weighed; a report on a big list says the same of all


def from_mail_system(message: Message, notice: str = "") -> bool:
    """Whether `message` is a mail system's notice rather than a person's message or an
    auto-reply (see the module)."""
    if message.get("X-Failed-Recipients") or _system_sender(message):
        return True
    subject = subject_of(message)
    if _persons_own(message) or notices.says_auto_reply(subject, notice):
        return False
    bounce_subject = _bounce_subject(subject)
    if _null_sender(message) and bounce_subject:
        return True
    machine = _null_sender(message) or bounce_subject or _machine_sender(message)
    return machine and notices.says_failure(notice)


def subject_of(message: Message) -> str:
    """The Subject, decoded (RFC 2047); "" when there is none or it cannot be decoded."""
    value = message.get("Subject")
    if value is None:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        return str(value)


def _senders(message: Message) -> list[tuple[str, str]]:
    values = [str(v) for name in ("From", "Sender") for v in message.get_all(name) or []]
    return getaddresses(values)


def _system_sender(message: Message) -> bool:
    if any(str(value).strip() in ("<>", "") for value in message.get_all("From") or []):
        return True  # a null From, as some MTAs write on bounces
    for name, address in _senders(message):
        if MAIL_SYSTEM.match(address or "") or SYSTEM_NAMES.search(name or ""):
            return True
    return False


def _machine_sender(message: Message) -> bool:
    return any(MACHINE_SENDER.match(address or "") for _name, address in _senders(message))


def _persons_own(message: Message) -> bool:
    """Sent back from the very address it comes from: a person, or their mailbox's answer."""
    paths = [
        str(value).strip().strip("<>").lower() for value in message.get_all("Return-Path") or []
    ]
    froms = {address.lower() for _name, address in getaddresses(message.get_all("From") or [])}
    return bool(paths) and paths[-1] != "" and paths[-1] in froms


def _null_sender(message: Message) -> bool:
    paths = [str(value).strip() for value in message.get_all("Return-Path") or []]
    return bool(paths) and paths[-1].replace(" ", "") in ("<>", "")


def _bounce_subject(subject: str) -> bool:
    if notices.AUTO_REPLY_SUBJECT.search(subject.strip()):
        return False
    return BOUNCE_SUBJECT.search(subject) is not None


def failure(message: Message, notice: str) -> Recipient | None:
    """The failure or delay a mail system's notice reports, or None when it reports neither."""
    temporary, permanent = _detected(message)
    subject = subject_of(message)
    failed = _failed_recipients(message, permanent)
    if notices.says_delay(notice, subject):
        # A warning that the server is still trying (flufl's heuristics can take one for a
        # failure: Exim's "has not yet been delivered" lists the address like a failure).
        named = failed or sorted(_text(address) for address in temporary)
        return Recipient(DELAYED, None, codes_in(notice)[1] or "", "", named[0] if named else "")
    if failed:
        return worst([_failed(notice, address) for address in failed[:MOST_RECIPIENTS]])
    if temporary:
        address = _text(sorted(temporary)[0])
        return Recipient(DELAYED, None, codes_in(notice)[1] or "", "", address)
    reply, enhanced = codes_in(notice)
    failing = (reply or 0) >= 500 or (enhanced or "").startswith("5")
    failed_subject = _bounce_subject(subject) and FAILED_SUBJECT.search(subject)
    says_cause = kind_by_words(notice) in (HARD, BLOCKED)  # "That's not a valid user here."
    if failing or notices.says_failure(notice) or failed_subject or says_cause:
        return _failed(notice, "")
    return None


def _failed_recipients(message: Message, permanent: frozenset) -> list[str]:
    named = [
        address
        for value in message.get_all("X-Failed-Recipients") or []
        for _name, address in getaddresses([str(value)])
        if "@" in address
    ]
    found = named + sorted(_text(address) for address in permanent)
    return list(dict.fromkeys(address for address in found if address))


def _text(address: bytes | str) -> str:
    return address.decode("ascii", errors="replace") if isinstance(address, bytes) else address


def _detected(message: Message) -> tuple[frozenset, frozenset]:
    """flufl.bounce's (temporary, permanent) recipients; a detector that breaks on an odd
    message counts as finding nothing (it is logged), so one message never stops the run."""
    try:
        return all_failures(message)
    except Exception as exc:  # noqa: BLE001 (third-party heuristics on arbitrary input)
        logger.warning("flufl.bounce could not read a message: %r", exc)
        return frozenset(), frozenset()


def _failed(notice: str, address: str) -> Recipient:
    """A failure of `address`: its kind from the reply quoted next to it, else from the
    whole notice."""
    for words in (
        notices.words_about(notice, address),
        notices.paragraph_about(notice, address),
        notice,
    ):
        reason = REASON.search(words)
        words = reason.group(1) if reason else words
        reply, enhanced = codes_in(words)
        if reply is not None or enhanced is not None or kind_by_words(words) is not None:
            break
    kind = bounce_kind(reply, enhanced, words) or SOFT
    return Recipient(FAILED, kind, enhanced or "", _diagnostic(words), address)


def _diagnostic(words: str) -> str:
    """The server's reply: from the line quoting a code on (else the words), one line."""
    code = REPLY.search(words) or ENHANCED.search(words)
    start = words.rfind("\n", 0, code.start()) + 1 if code else 0
    return " ".join(words[start : start + 400].split())[:300]
