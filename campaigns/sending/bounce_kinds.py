"""What a mail server's refusal says about the address: hard, soft or blocked (a pure function).

One rule for every refusal, wherever it comes from: a 5xx at send time (campaigns.sending.outcomes),
a returned delivery report (tracking.bounces) and an ESP's webhook (tracking.esp).

- HARD, the address is bad: 5.1.x except 5.1.7/5.1.8 (those are about the sender), 5.1.10
  (null MX), 5.4.4 (unroutable), 5.7.13 (account disabled), 5.2.1 when the words say the
  mailbox is disabled or unknown, or a reply without a specific code whose words say the user,
  mailbox or domain does not exist. The address becomes invalid.
- SOFT, try again later: 4.x.x, mailbox full (5.2.2), message too big (5.3.4, 5.2.3), and any
  other refusal that says nothing certain about the address: "mailbox unavailable", "user not
  local", a suspended or locked account, a DNS failure that is not a "no such domain".
  Counted toward the soft-bounce limit.
- BLOCKED, the message or the sender was refused and the address is fine: 5.7.x (spam,
  blocklists, DMARC, authentication, relaying), 5.6.x (content), 5.1.7/5.1.8 (our sender
  address), a temporary (4xx) refusal for policy or reputation, a refusal at connection, HELO
  or MAIL FROM (before any recipient was named), or one whose words say so. Never
  invalidates the address and never counts toward the soft limit.

The enhanced status code (RFC 3463) decides when it is specific, except where the server's
own words contradict it: a "5.1.1" that says "too many recipients this hour" is a block, one
that says "over quota" is a full mailbox; a "5.7.1" that says "no such user" is a bad address.
A generic code (x.0.0, 5.5.x, 5.3.x/5.4.x other than those above) or none leaves it to the
words, then to the SMTP stage the refusal came at.
"""

import re

HARD, SOFT, BLOCKED = "hard", "soft", "blocked"

ENHANCED = re.compile(r"(?<![\d.])([245])\.([0-7])\.(\d{1,3})(?![\d.])")
# In a server's words a failure's code stands where servers write one ("550 5.1.1", "550-5.1.1",
# "(#5.1.1)", "Status: 5.0.0"), never inside a version ("mxl_mta-5.5.0-3"): a success's 2.x.x
# in a failure notice is a version number ("Mailman 2.0.12"), so only 4.x.x and 5.x.x count.
TEXT_ENHANCED = re.compile(
    r"(?:(?<![^\s#(\[:;,=\"'<>])|(?<=\d\d\d-))([45])\.([0-7])\.(\d{1,3})(?!\.?\d)(?![\w-])"
)
# A failure's three-digit reply code where servers write one: at a line's start, after "said:",
# "(", "#", a quote, or before an enhanced code ("550-5.1.1", "550 5.1.1"). A 2xx or 3xx in a
# failure's words is something else ("SIZE=222").
REPLY = re.compile(r"(?:^|[\s:(\[#\"'=;])([45][0-5]\d)(?=[\s:-]|$)", re.MULTILINE)

SENDER_REFUSED = re.compile(
    r"sender (address )?(rejected|refused|verify failed|unknown|domain (must|does not))"
    r"|mail ?from.{0,40}(rejected|refused|listed)|return.path.{0,30}(rejected|invalid)"
    r"|domain of sender address|unroutable sender|sender'?s? domain|mail ?from domain"
    r"|valid from:|from: domain is invalid|senders? not (allowed|permitted|pre-?approved)"
    r"|sending (address|domain) not",
    re.IGNORECASE,
)
NO_SUCH_USER = re.compile(
    r"user(name)? (is )?unknown|unknown (user|recipient|mailbox|address|local.?part|alias)"
    r"|unknown or illegal (user|alias)|addressee unknown|no such (user|mailbox|recipient"
    r"|address|person|account|domain)|(user|mailbox|recipient|rcpt|address|account|addressee)"
    r"\b[^;\n]{0,60}?\b(does not|doesn't|did not|no longer|not) exists?\b"
    r"|(invalid|unknown|bad|nonexistent|non-existent) (recipient|mailbox|user|addressee"
    r"|destination mailbox)|bad_recipient|badrcptto|recipient (unknown|not found|invalid)"
    r"|(user|address|recipient|mailbox)( name)? (was )?not (found|known|listed|valid)"
    r"|not our (customer|user)|no mail ?box|no account by that name|not a (valid|known"
    r"|registered)[\w ]{0,20}? (user|mailbox|recipient|address)|invalid final delivery userid"
    r"|(does not|doesn't) have an? [\w. ]{0,30}account|no valid recipients"
    r"|recipnotfound|recipientnotfound|not listed in [\w &]{0,40}(directory|address book)"
    r"|name is not recognized|(account|mailbox|address|user)\b[^;\n]{0,40}?\b(has been |is )?"
    r"(disabled|deactivated|inactive|discontinued|closed|deleted|terminated|cancell?ed)\b"
    r"|\bdeactivated|discontinued|no longer (active|in use|valid|available|on (this )?server)"
    r"|(address|mailbox) (is )?(invalid|wrong)|unroute?able (address|mail domain)"
    r"|host (or domain name )?(not found|unknown)|unknown host|(host|domain) [\w.-]+ not found"
    r"|domain (name )?(not found"
    r"|does not exist)|nxdomain|null mx|does not accept mail|indicated no smtp service"
    r"|no mx (record )?(found )?for|couldn't find (a mail exchanger|any host)"
    r"|recipient.{0,10} is not a valid|not a valid user here|not an active (address|user|account"
    r"|mailbox)|address (couldn't|could not|cannot|can't) be found|(mailbox|user|recipient)"
    r" has moved|no forwarding address|(mailbox|address|account) unknown|no longer accepts mail"
    r"|bad destination (mailbox|system) address"
    # the same in the languages servers most often answer in
    r"|destinataire inconnu|utilisateur (inconnu|non recens)|n'existe pas|usuario (desconocido"
    r"|inexistente)|destinatario (desconocido|inexistente)|no existe\b|inexistente|usu.rio"
    r" (inv.lido|desconhecido)|n.o existe|(empf.nger|benutzer|adresse) unbekannt|existiert nicht"
    r"|utente (sconosciuto|inesistente)|non esiste",
    re.IGNORECASE,
)
# Words that are no proof the address is dead: the mailbox may come back (issue 21).
NOT_PROOF = re.compile(
    r"mailbox (is )?(currently |temporarily )?(unavailable|not available)|(user|recipient"
    r"|addressee) (is )?(currently )?unavailable|\bnot local\b|unavailable to take delivery"
    r"|\b(locked|frozen|suspended)\b|try again later|please try later"
    # trouble on the receiving side: a mail loop, a system error
    r"|mail loop|routing loop|loops back|too many hops|hop count exceeded|internal (system )?error"
    r"|system error|local error|resources temporarily unavailable",
    re.IGNORECASE,
)
# A state the mailbox says it is in only for now: no proof, whatever else is said of it.
FOR_NOW = re.compile(
    r"temporar(y|ily) (locked|disabled|suspended|blocked|unavailable|inactive)"
    r"|currently (suspended|disabled|unavailable|locked|inactive)",
    re.IGNORECASE,
)
# An unknown user the server does not commit to: "unknown or mailbox full", "may not exist or
# you may not have permission".
HEDGED = re.compile(
    r"(unknown|not exist|n'existe pas|desconocido|inexistente|unbekannt)\W+(or|ou|o|oder)\W+"
    r"(\S+\W+){0,5}?(full|lleno|llena|pleine|voll|unavailable|not available|nicht verf"
    r"|permission|autoris|permiso)",
    re.IGNORECASE,
)
# A failed DNS lookup is not a "no such domain": the domain may well exist.
DNS_NOT_PROOF = re.compile(
    r"name server reply|not found, try again|servfail|temporary failure in name resolution"
    r"|name or service not known",
    re.IGNORECASE,
)
BLOCKED_WORDS = re.compile(
    r"spam|block|black.?list|(?<!not )listed (on|in|at|by)|\bdnsbl|\brbl\b|reputation|policy|dmarc"
    r"|\bspf\b|dkim|authenticat|not authori[sz]ed|relay(ing)? (access )?(denied|not permitted)"
    r"|access denied|denied by|rejected by (the )?(content|policy)|virus(?! ?wall|es\b)|malware"
    r"|phish|content (rejected|filter|restriction|polic)|bulk mail|too many (connections"
    r"|recipients)"
    r"|rate limit|throttl|unsolicited|junk|not accepted from|banned|reverse dns|\brdns\b"
    r"|\bptr\b|client host (rejected|blocked)|not (permitted|allowed|configured) to relay"
    r"|(relay|sending) quota|frequency limit|volume|(user|due to) complaints"
    r"|not accepting (mail|messages) (from|with)|recipient'?s? preferences|challenge"
    r"|white.?list|allow(ed)? list|not pre-?approved"
    r"|requires confirmation|messages without|header (error|too|invalid)|headers too"
    r"|8-bit data|not (rfc ?\d* )?compliant|illegal attachment|mass mailer|host network not"
    r"|mismatches client|invalid ip|(weren't|were not|was not) sent\. (please|we recommend)"
    r"|smtp server of your isp|open relay|insecure mail relay|mail rejected by destination"
    r"|unable to relay|bloqu(e|é|ée|eado|eada)\b|blockiert|gesperrt",
    re.IGNORECASE,
)
# An address ("<user@policy.example>") or a host quoted with its IP ("mx.spam.example[192.0.2.1]").
NAMES = re.compile(r"<?[\w.+=%'-]+@[\w-]+(\.[\w-]+)+>?|\b[\w-]+(\.[\w-]+)+ ?\[[\d.:a-fA-F]+\]")
WORDS_READ = 5000  # characters of a server's words read: its reply comes first, not last
RECIPIENT_REJECTED = re.compile(r"recipient address(es)? rejected", re.IGNORECASE)
FULL_OR_TOO_BIG = re.compile(
    r"(mailbox|inbox|account|disk|quota|storage|mail ?box is|mailfolder is) ?(is )?(full"
    r"|exceeded|over)|over (the |disk )?quota|quota (exceeded|violation|usage)|exceeded (the |its"
    r" )?(storage|quota|disk)|insufficient (system )?(storage|space|disk)|not enough (storage"
    r"|space|disk)|space not enough|out of storage|too (large|big)|size (limit|exceeds)"
    r"|exceeds? (the )?(maximum|size|fixed|allowed)|exceeded the (local )?limit|too much mail"
    r"|too many messages on|line limit exceeded|size exceeded|exceed\w* (its |their |the )?quota"
    r"|(not|n't) have enough (space|storage)|bo.te (aux lettres )?(est )?pleine|buz.n (est. )?lleno"
    r"|casilla (de correo )?(est. )?llena|postfach (ist )?voll|caixa (postal )?(est. )?cheia"
    r"|casella (di posta )?piena",
    re.IGNORECASE,
)
# The SMTP stage a refusal came at, as MTAs quote it: "after RCPT TO:", "(in reply to end of
# DATA command)", ">>> MAIL From:", "Connected to … but sender was rejected", "[MAIL_FROM]".
STAGES = (
    (
        "data",
        r"after (end of data|data)\b|in reply to end of data|failed after i sent the message"
        r"|for text command|\(state 1[78]\)",
    ),
    ("rcpt", r"after rcpt|in reply to rcpt|rcpt to:?\s*<|\[rcpt_to\]|does not like recipient"),
    (
        "mail",
        r"after mail from|in reply to mail from|sender was rejected|\[mail_from\]"
        r"|>>> mail from",
    ),
    (
        "connect",
        r"after (initial connection|ehlo|helo|connect)|in reply to (ehlo|helo)|refused to"
        r" talk to me|my name was rejected|while performing the helo|\(sent_helo\)",
    ),
)
STAGE_WORDS = [(stage, re.compile(words, re.IGNORECASE)) for stage, words in STAGES]


def bounce_kind(
    smtp_code: int | None, enhanced_status: str | None, text: str, stage: str | None = None
) -> str | None:
    """HARD, SOFT or BLOCKED for a refusal (see the module), or None when nothing in it says
    the message failed: a 2xx code, or no code at all and a text that names no cause. `stage`
    is the SMTP stage the refusal came at when the caller knows it (else read in `text`)."""
    text = text[:WORDS_READ]
    stage = stage or refusal_stage(text)
    text = without_names(text)
    words = kind_by_words(text)
    enhanced = ENHANCED.match((enhanced_status or "").strip())
    if enhanced is not None:
        klass, subject, detail = enhanced.group(1), int(enhanced.group(2)), int(enhanced.group(3))
        if klass == "2":
            return None
        if klass == "4":
            return BLOCKED if words == BLOCKED else SOFT
        if (subject, detail) == (4, 1) and RECIPIENT_REJECTED.search(text):
            return HARD  # Microsoft 365: the recipient is not in the directory (DBEB)
        specific = _by_status(subject, detail)
        if specific is not None:
            return _weighed(specific, subject, detail, words, text)
        return _by_reply(smtp_code, words, stage)
    if smtp_code is None:
        return words
    if smtp_code < 400:
        return None
    if smtp_code < 500:
        return BLOCKED if words == BLOCKED else SOFT
    return _by_reply(smtp_code, words, stage)


def _by_reply(smtp_code: int | None, words: str | None, stage: str | None) -> str:
    """A permanent refusal without a specific enhanced code: the words, else the reply code
    (RFC 7504's 521 and 556, "does not accept mail"; 552, "exceeded storage allocation"),
    else the SMTP stage it came at."""
    if words is not None:
        return words
    if smtp_code in (521, 556):
        return HARD
    if smtp_code == 552:
        return SOFT
    return _by_stage(stage) or SOFT


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
    if (subject, detail) == (7, 13):
        return HARD  # user account disabled (RFC 3463 registry)
    if subject in (6, 7):
        return BLOCKED
    return None


def specific_status(code: str) -> bool:
    """Whether an enhanced code means something of its own (not x.0.0, nor a generic 5.x.x)."""
    found = ENHANCED.match(code or "")
    if found is None:
        return False
    subject, detail = _numbers(found)
    if found.group(1) == "5":
        return _by_status(subject, detail) is not None
    return (subject, detail) != (0, 0)


def _weighed(specific: str, subject: int, detail: int, words: str | None, text: str) -> str:
    """A specific code's kind, unless the server's own words say plainly otherwise."""
    if specific == HARD:
        if (subject, detail) == (4, 4) and DNS_NOT_PROOF.search(text):
            return SOFT  # a DNS error, not a "no such domain"
        if (subject, detail) in ((2, 1), (1, 6)) and words != HARD:
            return words or SOFT  # "disabled" or "moved" without saying the user is gone
        if NO_SUCH_USER.search(text) and not FOR_NOW.search(text):
            return HARD
        if words == BLOCKED:
            return BLOCKED  # "550 5.1.1 … has sent to too many recipients this hour"
        return SOFT if FULL_OR_TOO_BIG.search(text) else HARD
    if specific == BLOCKED and words in (HARD, SOFT) and (subject, detail) not in ((1, 7), (1, 8)):
        return words  # "550 5.7.1 No such user", "5.7.0 maildir over quota"
    return specific


def without_names(text: str) -> str:
    """The server's words on one line (MTAs wrap replies anywhere) without the addresses and
    host names it quotes: a recipient at policy.example or a host named spamfilter.example
    says nothing of policy or spam."""
    return " ".join(NAMES.sub(" ", text).split())


def kind_by_words(text: str) -> str | None:
    """The kind a server's words say, most telling first: a refused sender, a DNS failure, an
    unknown user, a block, no proof (mailbox unavailable, not local, suspended), a full
    mailbox or a message too big; None when they say none of these."""
    text = without_names(text[:WORDS_READ])
    if SENDER_REFUSED.search(text):
        return BLOCKED
    if DNS_NOT_PROOF.search(text) or FOR_NOW.search(text) or HEDGED.search(text):
        return SOFT
    unknown, blocked = NO_SUCH_USER.search(text), BLOCKED_WORDS.search(text)
    if unknown and not blocked:
        return HARD
    if blocked:
        return BLOCKED
    if NOT_PROOF.search(text) or FULL_OR_TOO_BIG.search(text):
        return SOFT
    return None


def refusal_stage(text: str) -> str | None:
    """The SMTP stage a quoted refusal came at: connect (greeting or HELO), mail, rcpt or data
    (the end of DATA); None when the words do not say."""
    text = " ".join(text[:WORDS_READ].split())
    for stage, found in STAGE_WORDS:
        if found.search(text):
            return stage
    return None


def _by_stage(stage: str | None) -> str | None:
    """A permanent refusal before any recipient was named, or of the message after every
    recipient was accepted, is about our server or the message: blocked."""
    return BLOCKED if stage in ("connect", "mail", "data") else None


def codes_in(text: str) -> tuple[int | None, str | None]:
    """The first SMTP reply code and the most telling enhanced status code in a server's
    words: the first with a specific meaning ("#5.5.0 smtp;550 5.1.1" gives 5.1.1), else the
    first. Success codes (2.x.x) in a failure's words are versions, not statuses."""
    reply = REPLY.search(text)
    codes = list(TEXT_ENHANCED.finditer(text))
    specific = [c for c in codes if c.group(1) != "5" or _by_status(*_numbers(c)) is not None]
    enhanced = (specific or codes or [None])[0]
    found = f"{enhanced.group(1)}.{enhanced.group(2)}.{enhanced.group(3)}" if enhanced else None
    return (int(reply.group(1)) if reply else None), found


def _numbers(code: re.Match) -> tuple[int, int]:
    return int(code.group(2)), int(code.group(3))


def kind_of_reply(text: str, smtp_code: int | None = None) -> str | None:
    """bounce_kind() of a refusal as text, e.g. "550 5.7.1 Service unavailable; listed on …"
    (the code given wins over one found in the text)."""
    found_code, enhanced = codes_in(text)
    return bounce_kind(smtp_code or found_code, enhanced, text)
