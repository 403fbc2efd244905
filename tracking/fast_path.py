"""Opens and clicks on PostgreSQL: few statements, prepared once per connection, and commits
that do not wait for the disk; and the set-based insert of a batch of buffered hits.

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

from datetime import timedelta
from functools import lru_cache

import psycopg
from django.db import connection

from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmail, TrackingUrl
from crm import events
from crm.models.events import Event
from tracking import classification
from tracking.models import TrackingHit

TARGETS = ("account_id", "contact_id", "lead_id", "user_id")
# A log row's person as the event stream stores it: the one target it points at.
PERSON_TYPE = (
    "CASE "
    + " ".join(f"WHEN l.{column} IS NOT NULL THEN '{column[:-3]}'" for column in TARGETS)
    + " ELSE '' END"
)
PERSON_ID = f"COALESCE({', '.join(f'l.{column}' for column in TARGETS)})"
PERSON_JSON = (
    f"CASE WHEN {PERSON_ID} IS NULL THEN NULL "
    f"ELSE jsonb_build_object('type', {PERSON_TYPE}, 'id', {PERSON_ID}) END"
)
LINK_PARAMS = {"redirect": TrackingUrl.Action.REDIRECT}


@lru_cache(maxsize=1)
def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "items": quote(EmailQueueItem._meta.db_table),
        "mass_emails": quote(MassEmail._meta.db_table),
        "log": quote(CampaignLogRecord._meta.db_table),
        "hits": quote(TrackingHit._meta.db_table),
        "links": quote(TrackingUrl._meta.db_table),
        "events": quote(Event._meta.db_table),
    }


def _fetch_one(sql: str, params: dict) -> tuple | None:
    """Run a prepared, server-side-bound statement on Django's connection; its first row."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchone() if cursor.description else None


# A link is found only if it belongs to the item's campaign and, to redirect, has a web address.
LINK_JOIN = """
    JOIN {links} u ON u.campaign_id = m.campaign_id AND u.id = %(url)s::bigint
         AND (u.action <> %(redirect)s::text OR u.url ~ '^https?://')"""


@lru_cache(maxsize=1)
def click_read_statement() -> str:
    names = _tables()
    return f"""
        SELECT q.status, q.sent_at, m.campaign_id, u.name, u.url, u.action, u.message
        FROM {names["items"]} q
        JOIN {names["mass_emails"]} m ON m.id = q.mass_email_id
        {LINK_JOIN.format(links=names["links"])}
        WHERE q.id = %(item)s::bigint
    """


def read_click(item_id: int, url_id: int) -> tuple | None:
    """(status, sent_at, campaign_id, name, url, action, message) of the link `url_id` seen
    from the item `item_id`; None unless the link belongs to the item's campaign."""
    return _fetch_one(click_read_statement(), {"item": item_id, "url": url_id, **LINK_PARAMS})


def _item_and_log(extra_columns: str, extra_joins: str, click: bool) -> str:
    """The CTEs shared by opens and clicks: the item (with `extra_columns`), then its log rows."""
    names = _tables()
    item_targets = ", ".join(f"q.{column}" for column in TARGETS)
    # The status is checked outside the item CTE, so the primary key alone picks the row.
    item = f"""
        no_wait AS (SELECT set_config('synchronous_commit', 'off', true)),
        item AS (
            SELECT q.id, q.status, q.sent_at, m.campaign_id, {item_targets}, q.email_address_id,
                   q.email, q.is_test, q.mass_email_id {extra_columns}
            FROM no_wait, {names["items"]} q
            JOIN {names["mass_emails"]} m ON m.id = q.mass_email_id {extra_joins}
            WHERE q.id = %(item)s::bigint
        )"""
    source = "verdict" if click else "item WHERE status = %(sent)s::text"
    logged = _log_insert("logged_open" if click else "logged", "opened", "NULL::bigint", source)
    if click:
        logged += f""",
        {_log_insert("logged_click", "clicked", "%(url)s::bigint", source)},
        logged AS (SELECT * FROM logged_open UNION ALL SELECT * FROM logged_click)"""
    return item, f"{logged}, {_events_insert(click)}"


def _log_insert(name: str, action: str, url: str, source: str) -> str:
    """A CTE `name` that inserts the item's log row of `action` (opened, or clicked with the
    tracking URL `url`) and returns it if new. A Clicked row already there is marked
    person_clicked, and returned, by the link's first click judged a person's: a scanner's
    click often comes first, and the person's must still be told of (once)."""
    targets = ", ".join(TARGETS)
    values = f"{targets}, email_address_id, email, '', '', is_test"
    conflict = "ON CONFLICT DO NOTHING"
    person, person_value = "", ""
    if action == "clicked":
        person, person_value = ", person_clicked", ", reason = ''"
        clicked = CampaignLogRecord.Action.CLICKED.value
        # The partial unique index of clicks; its condition must be written as a constant.
        conflict = f"""ON CONFLICT (queue_item_id, tracking_url_id) WHERE action = '{clicked}'
            DO UPDATE SET person_clicked = true
            WHERE EXCLUDED.person_clicked AND NOT l.person_clicked"""
    return f"""
        {name} AS (
            INSERT INTO {_tables()["log"]} AS l (campaign_id, action, action_date,
                                        queue_item_id, tracking_url_id, {targets},
                                        email_address_id, email, bounce_type, bounce_detail,
                                        is_test{person})
            SELECT campaign_id, %({action})s::text, %(at)s::timestamptz, id, {url}, {values}
                   {person_value}
            FROM {source}
            {conflict}
            RETURNING action, queue_item_id, tracking_url_id, campaign_id, email, is_test,
                      {targets}
        )"""


def _events_insert(click: bool) -> str:
    """A CTE that records email.opened / email.clicked (crm/events.py) for each log row the
    statement wrote or marked person_clicked (not for those already there), with the hit's
    human verdict."""
    human = "s.reason = ''" if click else "%(reason)s::text = ''"
    url = "CASE WHEN l.tracking_url_id IS NULL THEN NULL ELSE s.url END" if click else "NULL"
    source = "verdict s" if click else "item s"
    return f"""
        recorded AS (
            INSERT INTO {_tables()["events"]} (tx, type, occurred_at, person_type, person_id, data)
            SELECT 0, CASE WHEN l.action = %(opened)s::text THEN %(opened_event)s::text
                           ELSE %(clicked_event)s::text END,
                   %(at)s::timestamptz, {PERSON_TYPE}, {PERSON_ID},
                   jsonb_build_object(
                       'queue_item_id', l.queue_item_id, 'email', l.email,
                       'mass_email_id', s.mass_email_id, 'campaign_id', l.campaign_id,
                       'person', {PERSON_JSON}, 'human', {human},
                       'tracking_url_id', l.tracking_url_id, 'url', {url})
            FROM logged l, {source} WHERE NOT l.is_test
        )"""


def _hit_insert(source: str) -> str:
    return f"""
        INSERT INTO {_tables()["hits"]} (queue_item_id, campaign_id, is_test, kind,
                                         tracking_url_id, at, user_agent, client_hash,
                                         is_machine, reason)
        SELECT id, campaign_id, is_test, %(kind)s::text, %(url)s::bigint, %(at)s::timestamptz,
               %(agent)s::text, %(client)s::text, {source}
    """


@lru_cache(maxsize=1)
def open_statement() -> str:
    item, log = _item_and_log("", "", click=False)
    hit = _hit_insert("%(reason)s::text <> '', %(reason)s::text FROM item")
    return f"WITH {item}, {log} {hit} WHERE status = %(sent)s::text RETURNING id"


@lru_cache(maxsize=1)
def click_statement() -> str:
    """Item, link and machine verdict, log rows and hit in one statement; returns the link and
    the verdict. The verdict applies rules 2 to 5 of tracking.classification in SQL."""
    names = _tables()
    link = ", u.name, u.url, u.action, u.message"
    item, log = _item_and_log(link, LINK_JOIN.format(links=names["links"]), click=True)
    return f"""
        WITH {item},
        recent AS (
            SELECT coalesce(bool_or(h.kind = %(trap)s::text), false) AS trap,
                   count(DISTINCT h.tracking_url_id) FILTER (
                       WHERE h.kind = %(kind)s::text AND h.tracking_url_id <> %(url)s::bigint
                   ) + 1 >= %(burst_links)s::int AS burst
            FROM {names["hits"]} h
            WHERE h.queue_item_id = %(item)s::bigint AND h.at >= %(since)s::timestamptz
        ),
        verdict AS (
            SELECT item.*, recent.burst, CASE
                WHEN %(reason)s::text <> '' THEN %(reason)s::text
                WHEN item.sent_at > %(too_soon)s::timestamptz THEN %(too_soon_reason)s::text
                WHEN recent.trap THEN %(trap_reason)s::text
                WHEN recent.burst THEN %(burst)s::text
                ELSE '' END AS reason
            FROM item, recent WHERE item.status = %(sent)s::text
        ),
        {log},
        hit AS ({_hit_insert("reason <> '', reason FROM verdict")} RETURNING id, reason)
        SELECT item.status, item.sent_at, item.campaign_id, item.name, item.url, item.action,
               item.message, hit.id, hit.reason, verdict.burst
        FROM item LEFT JOIN hit ON true LEFT JOIN verdict ON true
    """


def _params(kind: str, item_id: int, visit, reason: str, url_id: int | None) -> dict:
    return {
        "item": item_id,
        "opened": CampaignLogRecord.Action.OPENED,
        "clicked": CampaignLogRecord.Action.CLICKED,
        "opened_event": events.EMAIL_OPENED,
        "clicked_event": events.EMAIL_CLICKED,
        "sent": EmailQueueItem.Status.SENT,
        "kind": kind,
        "url": url_id,
        "at": visit.at,
        "agent": visit.user_agent,
        "client": visit.client_hash,
        "reason": reason,
    }


def record_open(item_id: int, visit, reason: str) -> bool:
    """Record an open in one statement; False when there is no such sent item."""
    row = _fetch_one(open_statement(), _params(TrackingHit.Kind.OPEN, item_id, visit, reason, None))
    return row is not None


def record_click(item_id: int, url_id: int, visit, agent_reason: str) -> tuple | None:
    """Record a click in one statement: (status, sent_at, campaign_id, name, url, action,
    message, hit id, reason, burst); None unless the link belongs to the item's campaign. The
    hit id is None when the item was not sent."""
    Reason = TrackingHit.Reason
    params = _params(TrackingHit.Kind.CLICK, item_id, visit, agent_reason, url_id) | LINK_PARAMS
    params |= {
        "trap": TrackingHit.Kind.TRAP,
        "trap_reason": Reason.TRAP,
        "since": classification.burst_start(visit.at),
        "burst_links": classification.BURST_LINKS,
        "too_soon": visit.at - timedelta(seconds=classification.TOO_SOON_SECONDS),
        "too_soon_reason": Reason.TOO_SOON,
        "burst": Reason.BURST,
    }
    return _fetch_one(click_statement(), params)


# Columns of a batch of buffered hits (tracking.buffer), inserted from arrays by unnest().
HIT_COLUMNS = {
    "queue_item_id": "bigint",
    "campaign_id": "bigint",
    "is_test": "boolean",
    "kind": "text",
    "tracking_url_id": "bigint",
    "at": "timestamptz",
    "user_agent": "text",
    "client_hash": "text",
    "is_machine": "boolean",
    "reason": "text",
}
LOG_COLUMNS = {
    "campaign_id": "bigint",
    "action": "text",
    "queue_item_id": "bigint",
    "tracking_url_id": "bigint",
    **{column: "bigint" for column in TARGETS},
    "email_address_id": "bigint",
    "email": "text",
    "is_test": "boolean",
}


def _insert_arrays(
    table: str, columns: dict[str, str], rows: list, fixed: str = "", returning: str = ""
) -> list[tuple]:
    """One INSERT … SELECT FROM unnest(arrays) of `rows` (tuples in the order of `columns`),
    the arrays sent in binary: no ORM compilation per row, no text quoting per value.
    `fixed`: "column = SQL value, …" for every row."""
    pairs = [pair.split(" = ") for pair in fixed.split(", ")] if fixed else []
    names = ", ".join([*columns, *(name for name, _value in pairs)])
    values = ", ".join(["u.*", *(value for _name, value in pairs)])
    arrays = ", ".join(f"%b::{kind}[]" for kind in columns.values())
    sql = f"INSERT INTO {table} ({names}) SELECT {values} FROM unnest({arrays}) AS u"
    if table == _tables()["log"]:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {returning}"
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, [list(column) for column in zip(*rows, strict=True)])
        return cursor.fetchall() if returning else []


def insert_batch(log_records: list[tuple], hits: list[tuple]) -> set[tuple]:
    """Insert a batch's log records (value tuples in LOG_COLUMNS order; those the unique
    constraints hold are skipped) and hits (in HIT_COLUMNS order), in two statements; call it
    inside recording.hit_transaction(). Returns the (action, item id, tracking URL id) of the
    log records it wrote."""
    names = _tables()
    written = set()
    if log_records:
        fixed = "action_date = now(), bounce_type = '', bounce_detail = ''"
        returning = "action, queue_item_id, tracking_url_id"
        rows = _insert_arrays(names["log"], LOG_COLUMNS, log_records, fixed, returning)
        written = set(rows)
    if hits:
        _insert_arrays(names["hits"], HIT_COLUMNS, hits)
    return written
