"""Opens and clicks on PostgreSQL: few statements, prepared once per connection, and commits
that do not wait for the disk.

The pixel and the click are the busiest URLs of the product. On PostgreSQL a pixel is one
statement: an INSERT … SELECT with data-modifying CTEs that reads the queue item and inserts
its Opened record (ON CONFLICT DO NOTHING) and the hit. A click is two: one read of the item,
its link and its recent hits (for the machine rules), then the same kind of INSERT.
`set_config('synchronous_commit', 'off', true)` applies to that statement's own transaction
only: a database crash may lose the last fraction of a second of opens and clicks, never
consistency. Statements are bound server-side and prepared (psycopg `prepare=True`), so they are
planned once per connection; behind a transaction-pooling PgBouncer, use its prepared-statement
support. Other databases take the ORM path in tracking.recording, which writes the same rows.
"""

from datetime import datetime
from functools import lru_cache

import psycopg
from django.db import connection

from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmail, TrackingUrl
from tracking.models import TrackingHit

TARGETS = ("account_id", "contact_id", "lead_id", "user_id")


@lru_cache(maxsize=1)
def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "items": quote(EmailQueueItem._meta.db_table),
        "mass_emails": quote(MassEmail._meta.db_table),
        "log": quote(CampaignLogRecord._meta.db_table),
        "hits": quote(TrackingHit._meta.db_table),
        "links": quote(TrackingUrl._meta.db_table),
    }


def _fetch_one(sql: str, params: dict) -> tuple | None:
    """Run a prepared, server-side-bound statement on Django's connection; its first row."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchone() if cursor.description else None


@lru_cache(maxsize=1)
def click_read_statement() -> str:
    names = _tables()
    return f"""
        SELECT q.status, q.sent_at, m.campaign_id, u.name, u.url, u.action, u.message,
               (SELECT json_agg(json_build_array(h.kind, h.tracking_url_id))
                FROM {names["hits"]} h
                WHERE h.queue_item_id = q.id AND h.at >= %(since)s::timestamptz)
        FROM {names["items"]} q
        JOIN {names["mass_emails"]} m ON m.id = q.mass_email_id
        JOIN {names["links"]} u ON u.campaign_id = m.campaign_id AND u.id = %(url)s::bigint
        WHERE q.id = %(item)s::bigint
    """


def read_click(item_id: int, url_id: int, since: datetime) -> tuple | None:
    """(status, sent_at, campaign_id, name, url, action, message, recent hits as [kind, url id])
    of a click on `url_id` by `item_id`; None unless the link belongs to the item's campaign."""
    row = _fetch_one(click_read_statement(), {"item": item_id, "url": url_id, "since": since})
    return None if row is None else (*row[:7], [tuple(pair) for pair in row[7] or ()])


@lru_cache(maxsize=2)
def statement(click: bool) -> str:
    """The INSERT for an open, or for a click (which also logs Opened if it was not yet)."""
    names = _tables()
    targets = ", ".join(TARGETS)
    item_targets = ", ".join(f"q.{column}" for column in TARGETS)
    columns = f"{targets}, email_address_id, email, bounce_type, is_test"
    values = f"{targets}, email_address_id, email, '', is_test"
    logged = f"""
        SELECT campaign_id, %(opened)s::text, %(at)s::timestamptz, id, NULL::bigint, {values}
        FROM item WHERE status = %(sent)s::text"""
    if click:
        logged += f"""
        UNION ALL
        SELECT campaign_id, %(clicked)s::text, %(at)s::timestamptz, id, %(url)s::bigint, {values}
        FROM item WHERE status = %(sent)s::text"""
    # The status is checked outside the item CTE, so the primary key alone picks the row.
    return f"""
        WITH no_wait AS (SELECT set_config('synchronous_commit', 'off', true)),
        item AS (
            SELECT q.id, q.status, m.campaign_id, {item_targets}, q.email_address_id, q.email,
                   q.is_test
            FROM no_wait, {names["items"]} q JOIN {names["mass_emails"]} m
                 ON m.id = q.mass_email_id
            WHERE q.id = %(item)s::bigint
        ),
        logged AS (
            INSERT INTO {names["log"]} (campaign_id, action, action_date, queue_item_id,
                                        tracking_url_id, {columns})
            {logged}
            ON CONFLICT DO NOTHING
        )
        INSERT INTO {names["hits"]} (queue_item_id, campaign_id, is_test, kind, tracking_url_id,
                                     at, user_agent, client_hash, is_machine, reason)
        SELECT id, campaign_id, is_test, %(kind)s::text, %(url)s::bigint, %(at)s::timestamptz,
               %(agent)s::text, %(client)s::text, %(machine)s::boolean, %(reason)s::text
        FROM item WHERE status = %(sent)s::text
        RETURNING id
    """


def record(
    kind: str, item_id: int, at, user_agent: str, client_hash: str, reason: str, url_id=None
) -> int | None:
    """Record an open or click in one statement; the new hit's id, or None when there is no
    such sent item."""
    params = {
        "item": item_id,
        "opened": CampaignLogRecord.Action.OPENED,
        "clicked": CampaignLogRecord.Action.CLICKED,
        "sent": EmailQueueItem.Status.SENT,
        "kind": kind,
        "url": url_id,
        "at": at,
        "agent": user_agent,
        "client": client_hash,
        "machine": bool(reason),
        "reason": reason,
    }
    row = _fetch_one(statement(kind == TrackingHit.Kind.CLICK), params)
    return row[0] if row else None
