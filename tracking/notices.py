"""How a mail system's notice says what happened, in its own words (pure functions).

Shared by the two readers of returned mail (tracking.dsn for RFC 3464 reports,
tracking.server_bounces for servers' own formats):

- says_failure(): the notice says a message could not be delivered;
- says_delay(): it says the server is still trying (a warning, recorded as nothing);
- says_auto_reply(): a person's (or their mailbox's) automatic answer, never a bounce;
- words_about(): the lines of the notice about one failed recipient, where its reply is.
"""

import re

FAILURE_WORDS = re.compile(
    r"could ?not be (delivered|sent)|couldn't be (delivered|sent)|was not delivered"
    r"|wasn't delivered|undeliverable|undelivered|delivery (has )?failed|delivery failure"
    r"|failed permanently|permanent (error|failure|fatal)|unable to deliver|not be delivered"
    r"|returned to sender|message (was )?rejected|failure notice|delivery to the following"
    r"|failed to deliver|could not deliver|couldn't deliver|not deliverable|delivery error"
    r"|mailbox unavailable|recipient (address )?rejected|message not delivered|did not reach"
    r"|not delivered to|error (sending|delivering) your|problem delivering|rejected your message"
    r"|failed recipient|delivery status notification \(failure\)|could not send your"
    r"|was rejected|non-?delivery|(the )?following address(es)? (had|failed)|fatal errors"
    r"|was aborted|no pudo ser entregado|n'a pas pu|nicht zugestellt|non recapitabile",
    re.IGNORECASE,
)
# A warning that says so in as many words, whatever else the notice says.
SURE_WARNING = re.compile(
    r"warning (message )?only|do not need to (re)?send|no action is required"
    r"|only a temporary failure report",
    re.IGNORECASE,
)
WARNING = re.compile(
    r"warning only|do not need to (re)?send|no action is required|will (keep|continue) (trying"
    r"|to try)|will (be )?retr(y|ied)|still (trying|undelivered)|not yet been delivered"
    r"|has been delayed|delivery (is |has been )?delayed|delay(ed)? (notification|warning)"
    r"|could not send (mail|message|your message) for (the )?past|has been postponed"
    r"|only a temporary failure report|attempts will continue|will retry for|is delayed for"
    r"|delivery attempts will continue",
    re.IGNORECASE,
)
DELAY_SUBJECT = re.compile(
    r"\bdelay(ed)?\b|still being retried|not yet (been )?delivered|postponed"
    r"|could not send .{0,40} for (the )?past",
    re.IGNORECASE,
)
PERMANENT = re.compile(
    r"permanent(ly)?|fatal|given up|giving up|gave up|not going to try again|will not be retried"
    r"|removed from the (mail )?queue|no further (delivery )?attempts|will not (continue|try)"
    r"|deleted from (the )?(mail )?queue|will be deleted|could not be delivered for",
    re.IGNORECASE,
)
AUTO_REPLY_SUBJECT = re.compile(
    r"^(auto(matic)?[ -]?(reply|response|antwort|respons)|out of (the )?office|abwesen|away"
    r"|vacation|absence|respuesta autom|r[eé]ponse automatique|\[?automatyczna)|auto.?repl"
    r"|automatic (reply|response)|out of (the )?office|autorespon|\bvacation\b",
    re.IGNORECASE,
)
AUTO_REPLY_WORDS = re.compile(
    r"out of (the )?office|on (vacation|holiday|leave)|i am (away|out)|i'm (away|out)"
    r"|away from (my|the) (desk|office)|will be back|limited access to (my )?e-?mail"
    r"|i will (respond|reply|get back)|thank you for (your|contacting)|returning on",
    re.IGNORECASE,
)
PARAGRAPH_END = re.compile(r"\n[ \t\r]*\n")
# A line that starts another recipient's block: an address, bare or in <>, at its start.
NEXT_RECIPIENT = re.compile(r"^[ \t]*<?[\w.+=-]+@[\w.-]+\.\w+>?:?[ \t]*\r?$", re.MULTILINE)
ABOUT_LIMIT = 800  # characters of a recipient's paragraph read for its reply


def _flat(text: str) -> str:
    """The words of a notice on one line: servers wrap sentences anywhere."""
    return " ".join(text[:20_000].split())


def says_failure(text: str) -> bool:
    return FAILURE_WORDS.search(_flat(text)) is not None


def says_delay(text: str, subject: str = "") -> bool:
    """Whether the notice says the server is still trying (and nothing says it gave up)."""
    text = _flat(text)
    if SURE_WARNING.search(text):
        return True
    if PERMANENT.search(text):
        return False
    return WARNING.search(text) is not None or DELAY_SUBJECT.search(subject) is not None


def says_auto_reply(subject: str, text: str) -> bool:
    """An automatic answer by the recipient's mailbox: by its subject, or by its words when
    they do not also say a delivery failed."""
    if AUTO_REPLY_SUBJECT.search(subject.strip()):
        return True
    return AUTO_REPLY_WORDS.search(_flat(text[:2000])) is not None and not says_failure(text)


def words_about(notice: str, address: str) -> str:
    """The lines of the notice about `address`, where servers put that recipient's reply:
    from the line naming it to the next blank line or the next line naming another address
    (Exim and qmail list recipients one after another); "" when the notice does not name it.
    A line naming the address alone ("<user@example.org>:") runs on into the next paragraph
    (qmail, Gmail)."""
    at = _line_of(notice, address)
    if at < 0:
        return ""
    end = _block_end(notice, notice.find("\n", at) + 1 if "\n" in notice[at:] else len(notice))
    words = notice[at:end]
    if words.strip().strip("<>:*- \t").lower() == address.lower():
        words = notice[at : _block_end(notice, _skip_blank(notice, end))]
    return words[:ABOUT_LIMIT]


def paragraph_about(notice: str, address: str) -> str:
    """The whole paragraph of the notice that names `address` ("" when none does)."""
    at = _line_of(notice, address)
    if at < 0:
        return ""
    before = list(PARAGRAPH_END.finditer(notice, 0, at))
    start = before[-1].end() if before else 0
    end = PARAGRAPH_END.search(notice, at)
    return notice[start : end.start() if end else len(notice)][: ABOUT_LIMIT * 2]


def _line_of(notice: str, address: str) -> int:
    if not address:
        return -1
    found = notice.lower().find(address.lower())
    return notice.rfind("\n", 0, found) + 1 if found >= 0 else -1


def _block_end(notice: str, start: int) -> int:
    """Where the lines from `start` stop being about one recipient."""
    blank = PARAGRAPH_END.search(notice, max(start - 1, 0))
    other = NEXT_RECIPIENT.search(notice, start)
    ends = [found.start() for found in (blank, other) if found]
    return min(ends) if ends else len(notice)


def _skip_blank(notice: str, at: int) -> int:
    while at < len(notice) and notice[at] in " \t\r\n":
        at += 1
    return at
