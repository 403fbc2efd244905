"""What a mail server's refusal says about the address: hard, soft or blocked (a pure function).

One rule for every refusal, wherever it comes from: a 5xx at send time (campaigns.sending.outcomes),
a returned delivery report (tracking.bounces) and an ESP's webhook (tracking.esp).

- HARD, the address is bad: 5.1.x except 5.1.7/5.1.8 (those are about the sender), 5.2.1,
  5.4.4, 5.1.10 (null MX), or a 5xx without a specific enhanced code whose text says the user
  or mailbox does not exist. The address becomes invalid.
- SOFT, try again later: 4.x.x, mailbox full (5.2.2), message too big (5.3.4, 5.2.3), and any
  other 5xx that says nothing certain about the address. Counted toward the soft-bounce limit.
- BLOCKED, the message or the sender was refused and the address is fine: 5.7.x (spam,
  blocklists, DMARC, authentication, relaying), 5.6.x (content), 5.1.7/5.1.8 (our sender
  address), or a generic 5xx whose text says so. Never invalidates the address.

The enhanced status code (RFC 3463) decides when it is specific; a generic one (x.0.0, 5.5.x
protocol codes, 5.3.x/5.4.x other than those above) or none at all leaves it to the text.
"""

import re

HARD, SOFT, BLOCKED = "hard", "soft", "blocked"

ENHANCED = re.compile(r"(?<![\d.])([245])\.([0-7])\.(\d{1,3})(?![\d.])")
# A three-digit reply code where servers write one: at a line's start, after "said:", "(",
# "#", a quote, or before an enhanced code ("550-5.1.1", "550 5.1.1").
REPLY = re.compile(r"(?:^|[\s:(\[#\"'=;])([245][0-5]\d)(?=[\s:-]|$)", re.MULTILINE)

SENDER_REFUSED = re.compile(
    r"sender (address )?(rejected|refused|verify failed|unknown|domain (must|does not))"
    r"|mail from.{0,40}(rejected|refused)|return.path.{0,30}(rejected|invalid)",
    re.IGNORECASE,
)
NO_SUCH_USER = re.compile(
    r"user(name)? (is )?unknown|unknown (user|recipient|mailbox|address|local.?part)"
    r"|no such (user|mailbox|recipient|address|person|account)|(user|mailbox|recipient|address"
    r"|account)( name)? (does not|doesn't|did not|no longer) exists?"
    r"|(invalid|unknown|bad) (recipient|mailbox|address|user)|recipient (address )?"
    r"(rejected|unknown|not found|invalid)|mailbox (not found|unavailable|does not|is not"
    r" (available|valid)|disabled|inactive)|(user|address|recipient) not (found|known|listed)"
    r"|not our customer|no mailbox|account (has been |is )?(disabled|closed|discontinued"
    r"|deleted|suspended|inactive|expired)|this account has been|unrouteable address"
    r"|not a valid (user|mailbox|recipient)|unknown or illegal alias|addressee unknown"
    r"|unable to find (the )?(user|recipient)|(does not|doesn't) have an? [\w. ]{0,30}account"
    r"|no such domain"
    r"|host (or domain name )?not found|domain (name )?not found|null mx"
    r"|not listed in [\w &]{0,40}(directory|address book)|name is not recognized"
    r"|not a known user|is not a valid (user|mailbox|recipient|address)|no valid recipients"
    r"|recipientnotfound|recipnotfound|address (is )?(unknown|invalid|not valid)"
    r"|has been (disabled|deactivated|closed|suspended|terminated)|been deactivated"
    r"|no longer (active|in use|valid|exists|available)|mailbox (is )?not available",
    re.IGNORECASE,
)
BLOCKED_WORDS = re.compile(
    r"spam|block|black.?list|(?<!not )listed (on|in|at|by)|\bdnsbl|\brbl\b|reputation|policy|dmarc"
    r"|\bspf\b|dkim|authenticat|not authori[sz]ed|relay(ing)? (access )?(denied|not permitted)"
    r"|access denied|denied by|rejected by (the )?(content|policy)|virus|malware|phish"
    r"|content (rejected|filter|restriction|polic)|bulk mail"
    r"|too many (messages|connections|recipients)"
    r"|rate limit|throttl|unsolicited|junk|poor reputation|not accepted from|banned",
    re.IGNORECASE,
)
RECIPIENT_REJECTED = re.compile(r"recipient address rejected", re.IGNORECASE)
FULL_OR_TOO_BIG = re.compile(
    r"(mailbox|inbox|account|disk|quota|storage|mail ?box is) ?(is )?(full|exceeded|over)"
    r"|over (the )?quota|quota exceeded|exceeded (the )?(storage|quota)|insufficient (system )?"
    r"(storage|space)|too (large|big)|size (limit|exceeds)|exceeds (the )?(maximum|size)",
    re.IGNORECASE,
)


def bounce_kind(smtp_code: int | None, enhanced_status: str | None, text: str) -> str | None:
    """HARD, SOFT or BLOCKED for a refusal (see the module), or None when nothing in it says
    the message failed: a 2xx code, or no code at all and a text that names no cause."""
    enhanced = ENHANCED.match((enhanced_status or "").strip())
    if enhanced is not None:
        klass, subject, detail = enhanced.group(1), int(enhanced.group(2)), int(enhanced.group(3))
        if klass == "2":
            return None
        if klass == "4":
            return SOFT
        if (subject, detail) == (4, 1) and RECIPIENT_REJECTED.search(text):
            return HARD  # Microsoft 365: the recipient is not in the directory (DBEB)
        specific = _by_status(subject, detail)
        if specific is not None:
            return specific
        return _by_text(text) or SOFT
    if smtp_code is not None:
        if 200 <= smtp_code < 400:
            return None
        if smtp_code < 500:
            return SOFT
        return _by_text(text) or SOFT
    return _by_text(text)


def _by_status(subject: int, detail: int) -> str | None:
    """The kind a specific 5.subject.detail code means; None for the generic ones."""
    if subject == 1:
        if detail in (7, 8):
            return BLOCKED
        return HARD if detail else None
    if subject == 2:
        return {1: HARD, 2: SOFT, 3: SOFT, 4: SOFT}.get(detail)
    if subject == 3:
        return SOFT if detail in (1, 4) else None
    if subject == 4:
        return HARD if detail == 4 else (SOFT if detail in (6, 7) else None)
    if subject in (6, 7):
        return BLOCKED
    return None


def _by_text(text: str) -> str | None:
    """The kind a server's words say, most telling first: a refused sender, an unknown user,
    a block, a full mailbox or a message too big."""
    if SENDER_REFUSED.search(text):
        return BLOCKED
    if NO_SUCH_USER.search(text) and not BLOCKED_WORDS.search(text):
        return HARD
    if BLOCKED_WORDS.search(text):
        return BLOCKED
    if NO_SUCH_USER.search(text):
        return HARD
    if FULL_OR_TOO_BIG.search(text):
        return SOFT
    return None


def codes_in(text: str) -> tuple[int | None, str | None]:
    """The first SMTP reply code and the most telling enhanced status code in a server's
    words: the first with a specific meaning ("#5.5.0 smtp;550 5.1.1" gives 5.1.1), else the
    first."""
    reply = REPLY.search(text)
    codes = list(ENHANCED.finditer(text))
    specific = [c for c in codes if c.group(1) != "5" or _by_status(*_numbers(c)) is not None]
    enhanced = (specific or codes or [None])[0]
    return (int(reply.group(1)) if reply else None), (enhanced.group(0) if enhanced else None)


def _numbers(code: re.Match) -> tuple[int, int]:
    return int(code.group(2)), int(code.group(3))


def kind_of_reply(text: str, smtp_code: int | None = None) -> str | None:
    """bounce_kind() of a refusal as text, e.g. "550 5.7.1 Service unavailable; listed on …"
    (the code given wins over one found in the text)."""
    found_code, enhanced = codes_in(text)
    return bounce_kind(smtp_code or found_code, enhanced, text)
