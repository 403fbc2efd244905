"""One template for many rendered messages, for the ESP batch calls that share one body between
recipients and vary it by variables (SendGrid's substitutions, Mailgun's recipient variables,
Amazon SES's inline template of SendBulkEmail).

The messages of one chunk are rendered as for SMTP, each recipient's own (subject, bodies,
links, opt-out). Messages of the same shape (sender, reply-to, attachments, header names, the
same parts) are compared field by field: what they all share, in order, is the template's text,
and every stretch where one differs is a variable (`find_template`: each message is diffed by
tokens against the skeleton found so far, only when it does not already fit it). Each message's
values are then read back from its own text (`values_in`), and the message goes into the batch
only if the ESP's own substitution of its values into the template gives its text back exactly
(`Dialect.render`), within the ESP's limits; any other goes out in a call of its own.
"""

import difflib
import json
import re
import secrets
from dataclasses import dataclass, field

# Words, runs of white space, and every other character alone: a token-level diff.
TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
# Text up to a line's end or a tag's end: the first, coarse diff.
SEGMENT = re.compile(r"[^>\n]*[>\n]|[^>\n]+")
_HOLE = object()  # a variable in a skeleton's token list; equal to no token
# Holes separated by less text than this become one variable (fewer, longer variables).
SHORT_LITERAL = 4


def values_in(skeleton: list[str | None], text: str) -> list[str] | None:
    """Each variable's value in `text`, read with the skeleton's literal parts as anchors
    (None: variables); None when `text` does not fit the skeleton."""
    position, values = 0, []
    for index, part in enumerate(skeleton):
        if part is not None:
            if index == 0:
                if not text.startswith(part):
                    return None
                position = len(part)
            continue
        following = skeleton[index + 1] if index + 1 < len(skeleton) else None
        if following is None:
            values.append(text[position:])
            position = len(text)
        elif index + 2 == len(skeleton):  # the last literal closes the text
            end = len(text) - len(following)
            if end < position or not text.endswith(following):
                return None
            values.append(text[position:end])
            position = len(text)
        else:
            found = text.find(following, position)
            if found < 0:
                return None
            values.append(text[position:found])
            position = found + len(following)
    if position != len(text):
        return None
    return values


def find_template(texts: list[str]) -> list[str | None]:
    """What `texts` share, in order, as literal parts, with None for each stretch where any of
    them differs; every text fits it (values_in)."""
    skeleton: list[str | None] = [texts[0]] if texts[0] else []
    for text in texts[1:]:
        if values_in(skeleton, text) is None:
            skeleton = _refined(skeleton, text)
    return _merged(skeleton)


def _refined(skeleton: list[str | None], text: str) -> list[str | None]:
    """The skeleton with a hole wherever `text` differs from it: a diff by segments (up to a
    line's end or a tag's '>'), then by tokens inside the segments that differ, which keeps
    the diff fast on a long body whose differences are a few short values."""
    pieces = [_HOLE if part is None else part for part in skeleton]
    tokens = _holes_where_differs(
        pieces, text, SEGMENT, finer=lambda ours, theirs: _holes_where_differs(ours, theirs, TOKEN)
    )
    parts: list[str | None] = []
    for token in tokens:
        if token is _HOLE:
            if parts and parts[-1] is None:
                continue
            parts.append(None)
        elif parts and parts[-1] is not None:
            parts[-1] += token
        else:
            parts.append(token)
    return parts


def _holes_where_differs(pieces: list, text: str, pattern: re.Pattern, finer=None) -> list:
    """`pieces` (literal strings and holes) split by `pattern`, with a hole wherever `text`,
    split the same way, differs from them; a differing stretch goes to `finer` (ours, their
    text) for a closer diff when it is given."""
    ours: list = []
    for piece in pieces:
        ours.extend(pattern.findall(piece) if piece is not _HOLE else [_HOLE])
    theirs = pattern.findall(text)
    tokens: list = []
    matcher = difflib.SequenceMatcher(None, ours, theirs, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            tokens.extend(ours[i1:i2])
        elif finer is not None:
            tokens.extend(finer(ours[i1:i2], "".join(theirs[j1:j2])))
        else:
            tokens.append(_HOLE)
    return tokens


def _merged(skeleton: list[str | None]) -> list[str | None]:
    """Holes with only a short literal between them become one (the literal goes in the value)."""
    parts: list[str | None] = []
    for index, part in enumerate(skeleton):
        between = 0 < index < len(skeleton) - 1
        if part is not None and between and len(part) < SHORT_LITERAL:
            continue  # the holes either side merge across it
        if part is None and parts and parts[-1] is None:
            continue
        parts.append(part)
    return parts


class Dialect:
    """One ESP's variables: how one is written in the template, what the ESP does with it, and
    its limits. `render` is the ESP's documented substitution, used to check each message."""

    max_batch = 1
    prefix = ""
    attachments = True  # the batch call takes attachments (the same for every recipient)

    def marker(self, name: str) -> str:
        raise NotImplementedError

    def render(self, template: str, values: dict[str, str]) -> str:
        raise NotImplementedError

    def fits_template(self, template: str, markers: int) -> bool:
        """The template's text has no variable syntax of its own (it would be substituted)."""
        return template.count(self.prefix) == markers

    def fits_values(self, values: dict[str, str]) -> bool:
        return all(self.prefix not in value for value in values.values())

    def fits_address(self, address: str) -> bool:
        return True


class SendGridDialect(Dialect):
    """Substitutions (https://www.twilio.com/docs/sendgrid/for-developers/sending-email/
    substitution-tags): each tag is replaced by its value as is, in the subject and the bodies;
    at most 10,000 bytes of substitutions a personalization, 1,000 personalizations a call."""

    max_batch = 1000
    max_bytes = 10_000

    def __init__(self):
        self.prefix = f"-mm{secrets.token_hex(4)}v"

    def marker(self, name: str) -> str:
        return f"{self.prefix}{name}-"

    def render(self, template: str, values: dict[str, str]) -> str:
        return re.sub(
            re.escape(self.prefix) + r"(\w+)-", lambda m: values.get(m.group(1), ""), template
        )

    def fits_values(self, values: dict[str, str]) -> bool:
        size = sum(len(self.marker(k).encode()) + len(v.encode()) for k, v in values.items())
        return size <= self.max_bytes and super().fits_values(values)


class MailgunDialect(Dialect):
    """Recipient variables (https://documentation.mailgun.com/docs/mailgun/user-manual/
    sending-messages/batch-sending): %recipient.KEY% is replaced by the recipient's value as
    is, anywhere in the message; at most 1,000 recipients a call."""

    max_batch = 1000
    prefix = "%recipient."

    def marker(self, name: str) -> str:
        return f"%recipient.{name}%"

    def render(self, template: str, values: dict[str, str]) -> str:
        return re.sub(r"%recipient\.(\w+)%", lambda m: values.get(m.group(1), ""), template)


class SesDialect(Dialect):
    """SendBulkEmail with an inline template (https://docs.aws.amazon.com/ses/latest/dg/
    send-personalized-email-api.html): {{name}} is a simple substitution; at most 50 entries a
    call, 262,144 characters of ReplacementTemplateData an entry. Whether an inline template
    HTML-escapes a value is not documented (Handlebars would), so a value with a character
    Handlebars escapes goes in a call of its own; SES takes only 7-bit local parts."""

    max_batch = 50
    max_data = 262_144
    prefix = "{{"
    attachments = False  # anymail does not send attachments with a template
    escaped = set("&<>\"'`=")

    def marker(self, name: str) -> str:
        return "{{" + name + "}}"

    def render(self, template: str, values: dict[str, str]) -> str:
        return re.sub(r"\{\{(\w+)\}\}", lambda m: values.get(m.group(1), ""), template)

    def fits_template(self, template: str, markers: int) -> bool:
        bare = re.sub(r"\{\{\w+\}\}", "\0", template)
        return (
            template.count("{{") == markers
            and template.count("}}") == markers
            and not re.search(r"[{\\]\0|\0}", bare)
        )

    def fits_values(self, values: dict[str, str]) -> bool:
        if any(self.escaped & set(value) for value in values.values()):
            return False
        return len(json.dumps(values)) <= self.max_data

    def fits_address(self, address: str) -> bool:
        return address.rpartition("@")[0].isascii()


@dataclass
class SharedBatch:
    """Messages that one batch call carries: the templates (subject, text, HTML, with the
    dialect's markers) and each message's values, in the order of `positions`."""

    positions: list[int]
    subject: str
    text: str
    html: str
    values: list[dict[str, str]] = field(default_factory=list)


FIELDS = ("subject", "text", "html")
# A message joins a group only if the text they share stays at least this part of it: an A/B
# variant, or another mass email through the same source, makes a group of its own.
SHARED_AT_LEAST = 0.5


def similar_groups(texts: list[dict[str, str]]) -> list[list[int]]:
    """The indexes of `texts` in groups of messages that share most of their text."""
    groups: list[tuple[list, list[int]]] = []
    for index, message in enumerate(texts):
        whole = "\0".join(message[name] for name in FIELDS)
        for group in groups:
            skeleton = group[0]
            if values_in(skeleton, whole) is None:
                skeleton = _refined(skeleton, whole)
                shared = sum(len(part) for part in skeleton if part is not None)
                if shared < SHARED_AT_LEAST * len(whole):
                    continue
                group[0][:] = skeleton
            group[1].append(index)
            break
        else:
            groups.append(([whole] if whole else [], [index]))
    return [indexes for _skeleton, indexes in groups]


def shared_batch(
    texts: list[dict[str, str]], dialect: Dialect
) -> tuple[SharedBatch | None, list[int]]:
    """One template for `texts` (each message's subject, text and html, all of one shape) and
    the messages it carries exactly; the indexes of the others (sent one call each)."""
    templates, skeletons, count = {}, {}, 0
    for name in FIELDS:
        skeleton = find_template([message[name] for message in texts])
        parts = []
        for part in skeleton:
            if part is None:
                parts.append(dialect.marker(f"v{count}"))
                count += 1
            else:
                parts.append(part)
        templates[name], skeletons[name] = "".join(parts), skeleton
    markers_in = {name: skeletons[name].count(None) for name in FIELDS}
    if not all(dialect.fits_template(templates[n], markers_in[n]) for n in FIELDS):
        return None, list(range(len(texts)))
    batch = SharedBatch([], templates["subject"], templates["text"], templates["html"])
    alone = []
    for index, message in enumerate(texts):
        values = _values(message, skeletons)
        if values is not None and _reproduces(message, values, templates, dialect):
            batch.positions.append(index)
            batch.values.append(values)
        else:
            alone.append(index)
    return batch, alone


def _values(message: dict[str, str], skeletons: dict) -> dict[str, str] | None:
    values, count = {}, 0
    for name in FIELDS:
        found = values_in(skeletons[name], message[name])
        if found is None:
            return None
        for value in found:
            values[f"v{count}"] = value
            count += 1
    return values


def _reproduces(message, values, templates, dialect: Dialect) -> bool:
    """The ESP's substitution of the values gives the message's own text back, byte for byte."""
    return dialect.fits_values(values) and all(
        dialect.render(templates[name], values) == message[name] for name in FIELDS
    )
