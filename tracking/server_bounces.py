"""Bounces in a mail server's own format (not RFC 3464): qmail, Exim, Yahoo, Gmail, Exchange…

Only a message sent by a mail system (MAILER-DAEMON, postmaster, "Mail Delivery System",
MDaemon, Exchange's system mailbox…, or carrying Exim's X-Failed-Recipients) is read here: an
auto-reply or a person quoting our mail never is. flufl.bounce (GNU Mailman's detectors) finds
the failed recipients and whether the failure is permanent or a warning; the SMTP reply and
enhanced status codes quoted near the recipient (`550 5.1.1`, `452 4.2.2`, `(#5.1.1)`) and the
server's words then give the kind (campaigns.sending.bounce_kinds). Where no detector knows the
format, a notice that quotes a 4xx/5xx reply, or says that delivery failed, still counts; one that
says the server is still trying is a delay warning.
"""

import logging
import re
from email.message import Message
from email.utils import getaddresses

from flufl.bounce import all_failures

from campaigns.sending.bounce_kinds import ENHANCED, REPLY, SOFT, bounce_kind, codes_in
from tracking.dsn import DELAYED, FAILED, WARNING, Recipient

logger = logging.getLogger(__name__)
# flufl.bounce logs every detector it runs at INFO: ten thousand bounces would be 170,000 lines.
logging.getLogger("flufl.bounce").setLevel(logging.WARNING)

MAIL_SYSTEM = re.compile(
    r"^(mailer[-_.]?daemon|mail[-_.]?daemon|maildaemon|postmaster|mdaemon|mailadmin"
    r"|mail[-_.]?admin(istrator)?|microsoftexchange[0-9a-f]*|mail[-_.]?delivery|mailer"
    r"|smtp[-_.]?gateway|mail[-_.]?router|mail[-_.]?system|nobody|returns?|bounces?"
    r"|double-bounce|mailerdaemon|daemon)@",
    re.IGNORECASE,
)
SYSTEM_NAMES = re.compile(
    r"mail delivery|mailer.?daemon|postmaster|mail administrator|mail router|mail system"
    r"|delivery status notification|mdaemon|system administrator|microsoft exchange"
    r"|microsoft outlook|internet mail|mail server|delivery subsystem|mailer-?daemon",
    re.IGNORECASE,
)
# A notice sent with a null return path (as RFC 5321 wants of bounces) whose subject says so.
BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|returned mail|delivery (status|failure|failed|notification|report"
    r"|problem)|failure notice|mail delivery failed|non.?deliver|not delivered|could not be "
    r"delivered|delivery has failed|mail system error|permanent (error|failure)|rejected",
    re.IGNORECASE,
)
AUTO_REPLY = re.compile(
    r"^(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|abwesen|away|vacation"
    r"|absence|respuesta autom|r[eé]ponse automatique|re:)",
    re.IGNORECASE,
)
FAILURE_WORDS = re.compile(
    r"could not be delivered|couldn't be delivered|was not delivered|wasn't delivered"
    r"|undeliverable|undelivered|delivery (has )?failed|delivery failure|failed permanently"
    r"|permanent (error|failure|fatal)|unable to deliver|not be delivered|returned to sender"
    r"|message (was )?rejected|failure notice|delivery to the following recipient"
    r"|failed to deliver|could not deliver|couldn't deliver|not deliverable|delivery error"
    r"|mailbox unavailable|recipient (address )?rejected|message not delivered",
    re.IGNORECASE,
)
PERMANENT = re.compile(
    r"permanent(ly)?|fatal|given up|giving up|gave up|not going to try again|will not be retried"
    r"|removed from the (mail )?queue|no further (delivery )?attempts"
    r"|deleted from (the )?(mail )?queue|will be deleted",
    re.IGNORECASE,
)
AFTER_RECIPIENT = 600  # characters after the failed address where its reply is looked for


def from_mail_system(message: Message) -> bool:
    """Whether `message` was sent by a mail system rather than a person or an auto-responder:
    by its sender (MAILER-DAEMON, postmaster, "Mail Delivery System"…), Exim's
    X-Failed-Recipients, or a null return path with a bounce's subject (not an auto-reply's)."""
    if message.get("X-Failed-Recipients"):
        return True
    senders = [str(v) for name in ("From", "Sender") for v in message.get_all(name) or []]
    for name, address in getaddresses(senders):
        if MAIL_SYSTEM.match(address or "") or SYSTEM_NAMES.search(name or ""):
            return True
    return _null_sender(message) and _bounce_subject(str(message.get("Subject") or ""))


def _null_sender(message: Message) -> bool:
    paths = [str(value).strip() for value in message.get_all("Return-Path") or []]
    return bool(paths) and paths[-1].replace(" ", "") in ("<>", "")


def _bounce_subject(subject: str) -> bool:
    if AUTO_REPLY.match(subject.strip()) or re.search(r"auto.?repl", subject, re.IGNORECASE):
        return False
    return BOUNCE_SUBJECT.search(subject) is not None


def failure(message: Message, notice: str) -> Recipient | None:
    """The failure or delay a mail system's notice reports, or None when it reports neither."""
    temporary, permanent = _detected(message)
    if WARNING.search(notice) and not PERMANENT.search(notice):
        # A warning that the server is still trying (flufl's heuristics can take one for a
        # failure: Exim's "has not yet been delivered" lists the address like a failure).
        address = (
            sorted(temporary | permanent)[0].decode("ascii", "replace")
            if (temporary or permanent)
            else ""
        )
        return Recipient(DELAYED, None, codes_in(notice)[1] or "", "", address)
    if permanent:
        address = sorted(permanent)[0].decode("ascii", errors="replace")
        return _failed(notice, address)
    if temporary:
        address = sorted(temporary)[0].decode("ascii", errors="replace")
        return Recipient(DELAYED, None, codes_in(notice)[1] or "", "", address)
    reply, enhanced = codes_in(notice)
    failing = (reply or 0) >= 400 or (enhanced or "2").startswith(("4", "5"))
    if failing or FAILURE_WORDS.search(notice) or bounce_kind(None, None, notice):
        return _failed(notice, "")
    return None


def _detected(message: Message) -> tuple[frozenset, frozenset]:
    """flufl.bounce's (temporary, permanent) recipients; a detector that breaks on an odd
    message counts as finding nothing (it is logged), so one message never stops the run."""
    try:
        return all_failures(message)
    except Exception as exc:  # noqa: BLE001 (third-party heuristics on arbitrary input)
        logger.warning("flufl.bounce could not read a message: %r", exc)
        return frozenset(), frozenset()


def _failed(notice: str, address: str) -> Recipient:
    """A failure of `address`, its kind from the reply quoted after the address (or anywhere)."""
    words = _near(notice, address)
    reply, enhanced = codes_in(words)
    if reply is None and enhanced is None:
        reply, enhanced = codes_in(notice)
    kind = bounce_kind(reply, enhanced, words) or bounce_kind(reply, enhanced, notice) or SOFT
    return Recipient(FAILED, kind, enhanced or "", _diagnostic(words), address)


def _diagnostic(words: str) -> str:
    """The server's reply: from the line quoting a code on (else the words), one line."""
    code = REPLY.search(words) or ENHANCED.search(words)
    start = words.rfind("\n", 0, code.start()) + 1 if code else 0
    return " ".join(words[start : start + 400].split())[:300]


def _near(notice: str, address: str) -> str:
    if address:
        at = notice.lower().find(address.lower())
        if at >= 0:
            return notice[at : at + len(address) + AFTER_RECIPIENT]
    return notice
