"""Returned mail: reading what a message in the bounce mailbox reports, and recording it.

parse() recognises three things, and only when the message names one of our queue items by a
signed token (tracking.returned: the VERP address, or the returned X-Queue-Item-Id header):

- a delivery status notification (RFC 3464), read leniently wherever its delivery-status part
  is (tracking.dsn);
- a bounce in a mail server's own format, sent by a mail system (tracking.server_bounces,
  with flufl.bounce's detectors);
- a feedback-loop complaint (ARF, RFC 5965; tracking.feedback).

Anything else is left alone (None): auto-replies, people quoting our mail, reports that name
no item of ours, tokens that do not verify.

The bounce's kind comes from the enhanced status code and the server's words, by one rule for
every path (campaigns.sending.bounce_kinds):

- hard: log Bounced (Hard) and mark the address invalid, so no mass email goes to it again;
- soft: log Bounced (Soft) and count it on the address; at MassEmailSettings.soft_bounce_limit
  soft bounces the address becomes invalid too;
- blocked (the message or our server was refused: spam, blocklist, DMARC): log Bounced
  (Blocked) with the server's words; the address is left as it is;
- delayed (the server is still trying): read, and recorded as nothing.

Test sends are logged and change no address.
"""

import collections
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmailSettings
from campaigns.sending.bounce_kinds import BLOCKED, HARD, SOFT
from crm import events, suppression
from crm.models import EmailAddress
from tracking import dsn, feedback, recording, returned, server_bounces

DELAYED, COMPLAINT = "delayed", "complaint"
KINDS = (HARD, SOFT, BLOCKED, DELAYED, COMPLAINT)

__all__ = ["BLOCKED", "COMPLAINT", "DELAYED", "HARD", "SOFT", "Bounce", "parse", "record"]


@dataclass(frozen=True)
class Bounce:
    """What a returned message says of one of our queue items."""

    item_id: int
    kind: str  # HARD, SOFT, BLOCKED, DELAYED (read, recorded as nothing) or COMPLAINT
    status: str  # the enhanced status code, e.g. "5.1.1"; "" when the server gave none
    diagnostic: str = ""  # the server's words (a complaint's: its Feedback-Type)
    recipient: str = ""  # the failed address the report names, "" when it names none


def parse(raw: bytes) -> Bounce | None:
    """What `raw` (a whole message) reports of one of our items, or None when it reports no
    failure, delay or complaint, or names no item of ours by a token that verifies."""
    message = returned.parsed(raw)
    found = returned.contents(message)
    verdict = _verdict(message, found)
    if verdict is None:
        return None
    item_id = returned.item_id(found)
    if item_id is None:
        return None
    kind, status, diagnostic, recipient = verdict
    return Bounce(item_id, kind, status, diagnostic[:500], recipient[:254])


def _verdict(message, found: returned.Contents) -> tuple[str, str, str, str] | None:
    """(kind, status, diagnostic, recipient) of the failure, delay or complaint `message`
    reports, or None."""
    complaint = feedback.feedback_type(message)
    if complaint is not None:
        if not feedback.is_complaint(complaint):
            return None
        return COMPLAINT, "", complaint, ""
    notice = found.notice_text
    recipients = dsn.parse_report(message, notice)
    if recipients is None:  # no delivery-status part: a server's own format, if any
        mail_system = server_bounces.from_mail_system(message, notice)
        if not mail_system and not dsn.says_report(message):
            return None
        failure = server_bounces.failure(message, notice)
        recipients = [failure] if failure is not None else []
    chosen = dsn.worst(recipients or [])
    if chosen is None:
        return None
    kind = DELAYED if chosen.action == dsn.DELAYED else chosen.kind
    return kind, chosen.status, chosen.diagnostic, chosen.address


def record(bounce: Bounce) -> bool:
    """Log the bounce and flag the address (see the module's docstring), or opt out the
    complaining address; False when there is nothing to record: a delay warning, an item that
    no longer exists, or a bounce of this kind already logged for the item (read twice)."""
    return record_all([bounce]) == [True]


def record_all(reports: list[Bounce]) -> list[bool]:
    """record() for many reports in a few queries (the mailbox reads them a batch at a time):
    one True or False each, in order. The items' rows are locked first, so a report recorded
    at the same moment by an ESP's webhook is counted once."""
    with transaction.atomic():
        items = _locked_items({report.item_id for report in reports if report.kind != DELAYED})
        logged = set(
            CampaignLogRecord.objects.filter(
                queue_item_id__in=items, action=CampaignLogRecord.Action.BOUNCED
            ).values_list("queue_item_id", "bounce_type")
        )
        done, rows, hard, soft, found = [], [], set(), collections.Counter(), []
        for report in reports:
            item = items.get(report.item_id)
            key = (report.item_id, report.kind)
            if report.kind == DELAYED or item is None or key in logged:
                done.append(False)
                continue
            done.append(True)
            if report.kind == COMPLAINT:
                feedback.record_complaint(item)
                continue
            logged.add(key)
            rows.append(_log_row(item, report))
            if not item.is_test:
                found.append(recording.event_of(events.EMAIL_BOUNCED, item, kind=str(report.kind)))
            if item.is_test or not item.email_address_id:
                continue
            if report.kind == HARD:
                hard.add(item.email_address_id)
            elif report.kind == SOFT:
                soft[item.email_address_id] += 1
        CampaignLogRecord.objects.bulk_create(rows)
        events.record_events(found)
        _flag_addresses(hard, soft)
    return done


def _locked_items(ids: set[int]) -> dict[int, EmailQueueItem]:
    items = EmailQueueItem.objects.select_related("mass_email__campaign").filter(pk__in=ids)
    return {item.pk: item for item in items.select_for_update(of=("self",))}


def _log_row(item: EmailQueueItem, report: Bounce) -> CampaignLogRecord:
    return recording.log_record(
        item,
        CampaignLogRecord.Action.BOUNCED,
        bounce_type=CampaignLogRecord.BounceType(report.kind),
        bounce_detail=_detail(report),
    )


def _detail(report: Bounce) -> str:
    """The status code and the server's words, e.g. "5.7.1 smtp; 550 … listed on …"."""
    if report.status and report.status in report.diagnostic:
        return report.diagnostic[:500]
    return " ".join(filter(None, [report.status, report.diagnostic]))[:500]


def _flag_addresses(hard: set[int], soft: collections.Counter) -> None:
    """Hard: the address is invalid. Soft: counted, invalid at the soft-bounce limit.
    Blocked: the address is fine (the refusal was of the message or of our server)."""
    if hard:
        suppression.flag_addresses(
            EmailAddress.objects.filter(pk__in=hard), "invalid", via="bounce"
        )
    if not soft:
        return
    by_count = collections.defaultdict(list)
    for address_id, count in soft.items():
        by_count[count].append(address_id)
    for count, ids in by_count.items():
        addresses = EmailAddress.objects.filter(pk__in=ids)
        addresses.update(soft_bounces=F("soft_bounces") + count)
    limit = MassEmailSettings.load().soft_bounce_limit
    at_limit = EmailAddress.objects.filter(pk__in=list(soft), soft_bounces__gte=limit)
    suppression.flag_addresses(at_limit, "invalid", via="soft_bounces")
