"""What happened to each claimed item, and recording it: one short transaction per chunk.

Sent items get one UPDATE and their Sent log rows one INSERT … SELECT per chunk; failures (few)
one UPDATE each. Updates touch only items still Sending, so a claim that was resolved as stale
meanwhile (docs/delivery.md) is never overwritten.
"""

import datetime
import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import (
    CampaignLogRecord,
    EmailQueueItem,
    MassEmail,
    MassEmailSettings,
    SentEmail,
)
from campaigns.results.events import item_event, record_item_events
from campaigns.sending import deferrals, window
from campaigns.sending.bounce_kinds import HARD, SOFT, kind_of_reply
from crm import events, suppression
from crm.models import EmailAddress
from crm.value_lists import BIGINT, any_of

Status = EmailQueueItem.Status
# WAITING: not tried because the recipient's domain is deferring this run
# (campaigns.sending.deferrals).
SENT, RETRY, FAILED, WAITING = "sent", "retry", "failed", "waiting"
TARGET_FIELDS = EmailQueueItem.TARGET_FIELDS
TABLE = EmailQueueItem._meta.db_table


@dataclass
class Outcome:
    """What happened to one claimed item."""

    item: EmailQueueItem
    result: str
    error: str = ""
    attempted: bool = True
    bounced: bool = False  # a 5xx refusal of the recipient: a bounce of the kind its code says
    rendered: object = None
    reply: str = ""  # the server's own words for a refusal, without ours around them
    code: int | None = None
    esp_message_id: str = ""  # the ESP's id of the message (sent through an ESP's API)
    retry_after: float | None = None  # seconds the ESP asked to wait (a 429's Retry-After)


def record(outcomes: list[Outcome], mass_email: MassEmail, config: MassEmailSettings) -> None:
    """Store a chunk's results in one transaction: statuses, Sent log rows, stored copies.

    Only items still Sending are updated, so a claim that was resolved as stale meanwhile is
    not overwritten. Deferred items go back to Pending with their next attempt time until
    `max_attempts` is reached; test items are never retried. Items waiting for their domain go
    back to Pending as they were. A 5xx refusal also logs a bounce of the kind its code and
    words say (campaigns.sending.bounce_kinds); only a hard one makes the address invalid.
    One UPDATE for the sent items, one for the others and one INSERT for the Sent log rows,
    whatever the chunk's size.
    """
    now = timezone.now()
    for outcome in outcomes:
        _apply(outcome, now, config.max_attempts)
    sent = [outcome for outcome in outcomes if outcome.result == SENT]
    bounced = [outcome for outcome in outcomes if outcome.bounced and not outcome.item.is_test]
    with transaction.atomic(savepoint=False):
        _update_sent(sent, now)
        _update_items([outcome for outcome in outcomes if outcome.result != SENT])
        _insert_sent_log([outcome.item.pk for outcome in sent], mass_email.campaign_id, now)
        # The chunk's email.sent events copied from the rows just updated (test sends are not
        # told of), then its bounces' events.
        ids = {"mass_email_id": mass_email.pk, "campaign_id": mass_email.campaign_id}
        record_item_events(
            events.EMAIL_SENT, [o.item.pk for o in sent if not o.item.is_test], **ids
        )
        if bounced:
            _record_bounces(bounced, mass_email)
        if mass_email.store_sent_emails:
            SentEmail.objects.bulk_create(
                [SentEmail(queue_item=o.item, data=_as_text(o.rendered.data)) for o in sent],
                ignore_conflicts=True,
            )


# Columns _update_items sets on the items not sent, with their PostgreSQL types for VALUES.
UPDATED = (
    ("status", "varchar"),
    ("attempts", "integer"),
    ("last_error", "text"),
    ("next_attempt_at", "timestamptz"),
    ("keep", "boolean"),
    ("esp_message_id", "varchar"),
)


def _update_sent(sent: list[Outcome], now: datetime.datetime) -> None:
    """One UPDATE for the chunk's sent items, whatever their number: what differs between them
    (the address as sent, an ESP's message id) comes as one array parameter each, so the
    statement's text is the same for every chunk. Only items still Sending, as _update_items.
    The hourly window's count of their minute goes up by those that are not tests."""
    if not sent:
        return
    rows = []
    for outcome in sent:
        item = outcome.item
        item.email = outcome.rendered.recipient
        rows.append((item.pk, item.email, outcome.esp_message_id or None))
    if connection.vendor == "postgresql":
        source = "unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, email, esp_message_id)"
        params = [list(column) for column in zip(*rows, strict=True)]
    else:
        source = (
            "(SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS email, "
            "json_extract(value, '$[2]') AS esp_message_id FROM json_each(%s)) v"
        )
        params = [json.dumps(rows)]
    sql = (
        f"UPDATE {TABLE} SET status = %s, sent_at = %s, attempts = {TABLE}.attempts + 1, "
        f"last_error = '', next_attempt_at = NULL, email = v.email, "
        f"esp_message_id = COALESCE(v.esp_message_id, {TABLE}.esp_message_id) "
        f"FROM {source} WHERE {TABLE}.id = v.id AND {TABLE}.status = %s"
    )
    sent_at = connection.ops.adapt_datetimefield_value(now)
    params = [Status.SENT, sent_at, *params, Status.SENDING]
    # The hourly window counts them in their minute, in the same statement on PostgreSQL.
    sql += f" RETURNING {TABLE}.is_test"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = window.ADD_UPDATED_SQL.format(update=sql)
            cursor.execute(sql, [*params, *window.add_updated_params(now)])
            return
        cursor.execute(sql, params)
        counted = sum(1 for (is_test,) in cursor.fetchall() if not is_test)
    window.add_sent(now, counted)


def _update_items(outcomes: list[Outcome]) -> None:
    """One UPDATE … FROM (VALUES …) for the chunk's items not sent (Django's bulk_update
    costs more than the SMTP exchange). Only items still Sending: a claim resolved as stale
    meanwhile belongs to another run now. An item waiting for its domain keeps its last error
    and next attempt time (`keep`)."""
    if not outcomes:
        return
    typed = connection.vendor == "postgresql"
    row = (
        "("
        + ", ".join(
            ["%s::bigint" if typed else "%s"]
            + [f"%s::{kind}" if typed else "%s" for _column, kind in UPDATED]
        )
        + ")"
    )
    params = []
    for outcome in outcomes:
        params += _values(outcome)
    names = ", ".join(["id", *(column for column, _kind in UPDATED)])
    sql = (
        f"WITH v({names}) AS (VALUES {', '.join([row] * len(outcomes))}) "
        f"UPDATE {TABLE} SET status = v.status, sent_at = NULL, attempts = v.attempts, "
        f"last_error = CASE WHEN v.keep THEN {TABLE}.last_error ELSE v.last_error END, "
        f"next_attempt_at = CASE WHEN v.keep THEN {TABLE}.next_attempt_at "
        f"ELSE v.next_attempt_at END, "
        f"esp_message_id = COALESCE(v.esp_message_id, {TABLE}.esp_message_id) "
        f"FROM v WHERE {TABLE}.id = v.id AND {TABLE}.status = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, Status.SENDING])


def _values(outcome: Outcome) -> list:
    item = outcome.item
    keep = outcome.result == WAITING and not item.is_test
    next_attempt = item.next_attempt_at if outcome.result == RETRY else None
    return [
        item.pk,
        item.status,
        item.attempts,
        "" if keep else item.last_error,
        connection.ops.adapt_datetimefield_value(next_attempt),
        keep,
        outcome.esp_message_id or None,
    ]


def _insert_sent_log(item_ids: list[int], campaign_id: int, now: datetime.datetime) -> None:
    """One Sent log row per item, copied from the queue rows in one INSERT … SELECT.

    Set-based because building model instances for the log costs as much as rendering; a row
    already there (an item sent again after a crash) is left alone.
    """
    if not item_ids:
        return
    copied = ["email_address_id", "email", "is_test", *(f"{n}_id" for n in TARGET_FIELDS)]
    given = {"id", "campaign_id", "action", "action_date", "queue_item_id", *copied}
    others = [f for f in CampaignLogRecord._meta.concrete_fields if f.column not in given]
    columns = ["campaign_id", "action", "action_date", "queue_item_id", *copied]
    columns += [field.column for field in others]
    values = ["%s", "%s", "%s", "q.id", *(f"q.{column}" for column in copied)]
    values += ["%s"] * len(others)
    params = [campaign_id, CampaignLogRecord.Action.SENT]
    params.append(connection.ops.adapt_datetimefield_value(now))
    params += [field.get_db_prep_save(field.get_default(), connection) for field in others]
    chosen, ids = any_of("q.id", item_ids, BIGINT)
    sql = (
        f"INSERT INTO {CampaignLogRecord._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM {EmailQueueItem._meta.db_table} q "
        f"WHERE {chosen} ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *ids])


def _apply(outcome: Outcome, now: datetime.datetime, max_attempts: int) -> None:
    item = outcome.item
    item.attempts += outcome.attempted
    if outcome.result == WAITING and not item.is_test:
        item.status = Status.PENDING  # its last error and next attempt stay as they were
        return
    item.last_error = outcome.error
    if outcome.result == SENT:
        item.status, item.sent_at = Status.SENT, now
        if outcome.esp_message_id:  # (read, the field would load per item: portion.py skips it)
            item.esp_message_id = outcome.esp_message_id
    elif outcome.result == RETRY and not item.is_test and item.attempts < max_attempts:
        item.status = Status.PENDING
        item.next_attempt_at = deferrals.next_attempt_at(item.attempts, now)
        if outcome.retry_after:  # never before the ESP said it would take it again
            wait = datetime.timedelta(seconds=outcome.retry_after)
            item.next_attempt_at = max(item.next_attempt_at, now + wait)
        item.last_error = _("%(error)s Next attempt at %(time)s.") % {
            "error": outcome.error,
            "time": timezone.localtime(item.next_attempt_at).strftime("%Y-%m-%d %H:%M %Z"),
        }
    else:
        item.status = Status.FAILED
        if outcome.result == RETRY:
            item.last_error = _("Gave up after %(count)s attempts: %(error)s") % {
                "count": item.attempts,
                "error": outcome.error,
            }
            outcome.result = FAILED


def _log_row(
    item: EmailQueueItem, mass_email: MassEmail, action: str, **extra
) -> CampaignLogRecord:
    row = CampaignLogRecord(
        campaign_id=mass_email.campaign_id,
        action=action,
        queue_item=item,
        email_address_id=item.email_address_id,
        email=item.email or (item.email_address.address if item.email_address else ""),
        is_test=item.is_test,
        **extra,
    )
    for name in EmailQueueItem.TARGET_FIELDS:
        setattr(row, f"{name}_id", getattr(item, f"{name}_id"))
    return row


def _record_bounces(bounced: list[Outcome], mass_email: MassEmail) -> None:
    """Log each 5xx refusal as a hard, soft or blocked bounce, with its email.bounced event;
    invalidate only hard ones' addresses (a blocklisting of our server says nothing about the
    recipients)."""
    rows, hard, found = [], [], []
    ids = {"mass_email_id": mass_email.pk, "campaign_id": mass_email.campaign_id}
    for outcome in bounced:
        kind = kind_of_reply(outcome.reply or outcome.error, outcome.code) or SOFT
        rows.append(
            _log_row(
                outcome.item,
                mass_email,
                CampaignLogRecord.Action.BOUNCED,
                bounce_type=kind,
                bounce_detail=outcome.error[:500],
            )
        )
        if kind == HARD:
            hard.append(outcome.item.email_address_id)
        found.append(item_event(events.EMAIL_BOUNCED, outcome.item, kind=str(kind), **ids))
    # ignore_conflicts: a bounce of this kind already logged for the item (logged once)
    CampaignLogRecord.objects.bulk_create(rows, ignore_conflicts=True)
    events.record_events(found)
    # After email.bounced: the bounced person leaves their automations for the bounce.
    suppression.flag_addresses(EmailAddress.objects.filter(id__in=hard), "invalid", via="bounce")


def _as_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
