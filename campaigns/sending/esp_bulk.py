"""The batch calls of SendGrid, Mailgun and Amazon SES, which share one body between recipients
and vary it by variables, carrying each recipient's own message exactly.

`plan` groups a call's messages by shape (sender, reply-to, attachments, header names, parts)
and finds each group's template (campaigns.sending.esp_templates); `bulk_message` builds the
one anymail message that carries a batch: the template as subject and bodies, each recipient's
values as anymail's merge_data (SendGrid's substitutions, Mailgun's recipient variables, SES's
ReplacementTemplateData), each recipient's headers as merge_headers (SendGrid's personalization
headers, Mailgun's h: recipient variables, SES's ReplacementHeaders) and its token as
merge_metadata (SendGrid's custom_args, Mailgun's v: variables, SES's X-Metadata header).
`answers` reads what the ESP said about each recipient: SendGrid's anymail_id of its
personalization, Mailgun's one id for the call, SES's MessageId or Status of its entry.
"""

import hashlib
from collections import defaultdict

from anymail.utils import parse_single_address
from django.core.mail import EmailMultiAlternatives
from django.utils.translation import gettext as _

from campaigns.sending.esp_answers import SourceDeferral, in_doubt
from campaigns.sending.esp_templates import (
    Dialect,
    MailgunDialect,
    SendGridDialect,
    SesDialect,
    SharedBatch,
    shared_batch,
    similar_groups,
)
from campaigns.sending.transport import (
    ConfigurationProblem,
    MessageFailed,
    SmtpProblem,
)
from crm.models import SendingMethod

DIALECTS = {
    SendingMethod.SENDGRID: SendGridDialect,
    SendingMethod.MAILGUN: MailgunDialect,
    SendingMethod.AMAZON_SES: SesDialect,
}
# SES entry statuses (BulkEmailStatus) that say SES or the account cannot send now: retried
# later, about the source and not the recipient's domain (SES delivers later, on its own).
SES_LATER = {"ACCOUNT_THROTTLED", "TRANSIENT_FAILURE", "ACCOUNT_DAILY_QUOTA_EXCEEDED"}
# ...and that say the settings are wrong: the source stops for the run.
SES_SETTINGS = {
    "MAIL_FROM_DOMAIN_NOT_VERIFIED", "CONFIGURATION_SET_NOT_FOUND", "ACCOUNT_SUSPENDED",
    "INVALID_SENDING_POOL_NAME", "ACCOUNT_SENDING_PAUSED", "CONFIGURATION_SET_SENDING_PAUSED",
}  # fmt: skip


def dialect_for(method: str) -> Dialect | None:
    """The method's variables, or None for an ESP whose batch takes whole messages (Postmark)."""
    dialect = DIALECTS.get(method)
    return dialect() if dialect is not None else None


def texts_of(message: EmailMultiAlternatives) -> dict[str, str]:
    """The parts a template covers: subject, text body, HTML body ('' when absent)."""
    if message.content_subtype == "html":
        return {"subject": message.subject, "text": "", "html": message.body}
    html = next((body for body, kind in message.alternatives if kind == "text/html"), "")
    return {"subject": message.subject, "text": message.body, "html": html}


def _shape(message: EmailMultiAlternatives) -> str:
    """What must be the same in every message of a batch: all but the variables and headers."""
    attachments = hashlib.sha256(repr(message.attachments).encode()).hexdigest()
    names = sorted(name.lower() for name in message.extra_headers)
    texts = texts_of(message)
    parts = (bool(texts["text"]), bool(texts["html"]), message.content_subtype)
    return repr((message.from_email, message.reply_to, names, parts, attachments))


def plan(
    messages: dict[int, EmailMultiAlternatives], dialect: Dialect, backend
) -> tuple[list[SharedBatch], list[int]]:
    """The batches the messages (by position) go in, and the positions sent one call each:
    those alone of their shape, a second message to the same address, an address the ESP
    does not batch, and any message the template does not reproduce exactly."""
    groups: dict[str, list[int]] = defaultdict(list)
    alone, addresses = [], set()
    for position, message in messages.items():
        address = recipient_key(message, backend)
        attached = bool(message.attachments) and not dialect.attachments
        if address.lower() in addresses or attached or not dialect.fits_address(address):
            alone.append(position)
            continue
        addresses.add(address.lower())
        groups[_shape(message)].append(position)
    batches = []
    for shaped in groups.values():
        texts = [texts_of(messages[p]) for p in shaped]
        for indexes in similar_groups(texts) if len(shaped) > 1 else [[0]]:
            batches += _batches([shaped[i] for i in indexes], messages, dialect, alone)
    return batches, sorted(alone)


def _batches(positions: list[int], messages, dialect: Dialect, alone: list[int]) -> list:
    """The batch calls for messages of one shape and most of their text; the others to `alone`."""
    if len(positions) < 2:
        alone += positions
        return []
    batch, others = shared_batch([texts_of(messages[p]) for p in positions], dialect)
    alone += [positions[index] for index in others]
    if batch is None:
        return []
    batch.positions = [positions[index] for index in batch.positions]
    batches = []
    for start in range(0, len(batch.positions), dialect.max_batch):
        end = start + dialect.max_batch
        part = SharedBatch(
            batch.positions[start:end], batch.subject, batch.text, batch.html,
            batch.values[start:end],
        )  # fmt: skip
        if len(part.positions) > 1:
            batches.append(part)
        else:
            alone += part.positions
    return batches


def recipient_key(message: EmailMultiAlternatives, backend) -> str:
    """The recipient's address as the batch names it: its domain in IDNA (as anymail sends it),
    so that anymail's per-recipient data is keyed by the address the ESP receives."""
    return parse_single_address(message.to[0]).format_addr_spec(idna_encode=backend.idna_encode)


def _recipient(message: EmailMultiAlternatives, backend) -> str:
    return parse_single_address(message.to[0]).format(idna_encode=backend.idna_encode)


def bulk_message(
    batch: SharedBatch, messages: dict[int, EmailMultiAlternatives], dialect: Dialect, backend
) -> tuple[EmailMultiAlternatives, list[str]]:
    """The one anymail message that carries the batch (module docstring), and its recipients'
    keys (recipient_key) in the batch's order."""
    first = messages[batch.positions[0]]
    keys = [recipient_key(messages[p], backend) for p in batch.positions]
    message = EmailMultiAlternatives(
        subject=batch.subject,
        body=batch.text,
        from_email=first.from_email,
        to=[_recipient(messages[p], backend) for p in batch.positions],
        reply_to=first.reply_to,
    )
    if first.content_subtype == "html":
        message.body, message.content_subtype = batch.html, "html"
    elif batch.html:
        message.attach_alternative(batch.html, "text/html")
    message.attachments = list(first.attachments)
    message.merge_data = dict(zip(keys, batch.values, strict=True))
    message.merge_headers = {
        key: dict(messages[p].extra_headers) for key, p in zip(keys, batch.positions, strict=True)
    }
    message.merge_metadata = {
        key: getattr(messages[p], "metadata", {})
        for key, p in zip(keys, batch.positions, strict=True)
    }
    if isinstance(dialect, SendGridDialect):
        message.esp_extra = {"merge_field_format": "{}"}  # the markers are the whole tags
        message.merge_data = {
            key: {dialect.marker(name): value for name, value in values.items()}
            for key, values in message.merge_data.items()
        }
    if isinstance(dialect, SesDialect):
        # An inline template (SendBulkEmail's DefaultContent.Template.TemplateContent): no
        # stored template to create and clean up. anymail picks SendBulkEmail for a
        # template_id; esp_extra then replaces DefaultContent with the inline content.
        content = {"Subject": batch.subject}
        if batch.text:
            content["Text"] = batch.text
        if batch.html:
            content["Html"] = batch.html
        message.subject, message.body, message.alternatives = "", "", []
        message.content_subtype = "plain"
        message.template_id = "inline"
        message.esp_extra = {"DefaultContent": {"Template": {"TemplateContent": content}}}
    return message, keys


def answers(message: EmailMultiAlternatives, keys: list[str]) -> list[str | SmtpProblem]:
    """Each recipient's outcome, in the batch's order, from anymail's status of the call."""
    response = message.anymail_status.esp_response
    if isinstance(response, dict) and "BulkEmailEntryResults" in response:
        return ses_entries(response["BulkEmailEntryResults"], keys)
    results: list[str | SmtpProblem] = []
    for key in keys:
        status = message.anymail_status.recipients.get(key)
        if status is None or not isinstance(status.message_id, str):
            words = _("it names no message for %(address)s.") % {"address": key}
            results.append(in_doubt(words))
        else:
            results.append(status.message_id)
    return results


def ses_entries(entries: list[dict], keys: list[str]) -> list[str | SmtpProblem]:
    """SES's BulkEmailEntryResults, in the order of the entries: a MessageId, or the Status and
    Error of an entry it did not send."""
    if len(entries) != len(keys):
        return [in_doubt(str(entries))] * len(keys)
    results: list[str | SmtpProblem] = []
    for key, entry in zip(keys, entries, strict=True):
        status = str(entry.get("Status", ""))
        if status == "SUCCESS":
            results.append(str(entry.get("MessageId", "")))
            continue
        what = {"address": key, "status": status, "words": str(entry.get("Error", ""))[:300]}
        if status in SES_LATER:
            text = _("The ESP deferred the message (%(status)s): %(words)s") % what
            results.append(SourceDeferral(text))
        elif status in SES_SETTINGS:
            text = _("The ESP cannot send for these settings (%(status)s): %(words)s") % what
            results.append(ConfigurationProblem(text))
        else:
            text = _("The ESP refused %(address)s (%(status)s): %(words)s") % what
            results.append(MessageFailed(text))
    return results
