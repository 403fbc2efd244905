"""The one event stream: an outbox that every floor writes to, in the same transaction as the
change it tells of, and that consumers on the top floors (webhook delivery, automation
triggers) read each at its own position.

Writing: `record_event(type, data, person=...)` for one, `record_events([...])` for many in
one insert (the sender records a whole chunk's `email.sent` so). The caller's transaction
carries it: if the change rolls back, so does its event; nothing is written twice.

Reading: `take(consumer, handle)` locks the consumer's position, reads the next events in
stream order and calls `handle(events)` in the same transaction, then moves the position past
them. A consumer's own writes (webhook deliveries, enrolments) commit with its new position or
not at all, so each event is handled exactly once per consumer, by whichever worker got the
lock; the others find it taken and return at once.

Order: on PostgreSQL a row's id is drawn when it is inserted but seen when its transaction
commits, so ids alone could let a reader pass over a row that commits later with a lower
id. Each row therefore carries its transaction's id (`tx`, set by a trigger), the stream is
read in (tx, id) order, and a reader first asks which transactions of this database are
still running (other databases' cannot write here, so a long one elsewhere in the cluster
does not hold the stream up), then reads only rows of transactions older than all of them:
one that is still open, or starts later, can only add rows after the reader's position. Its
own transaction's rows it may read too, when no other open one is older. SQLite has one
writer at a time; its rows keep tx 0 and are read in id order.

Lower floors never import their consumers: a consumer names itself when it reads.
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from crm.models.events import Event, EventConsumer

# The event types, as the `type` of a webhook's payload (a contract: integrations rely on them).
CONTACT_CREATED = "contact.created"
CONTACT_UPDATED = "contact.updated"
CONTACT_DELETED = "contact.deleted"
LIST_MEMBER_ADDED = "list.member_added"
LIST_MEMBER_REMOVED = "list.member_removed"
SUBSCRIPTION_CONFIRMED = "subscription.confirmed"
EMAIL_SENT = "email.sent"
EMAIL_OPENED = "email.opened"
EMAIL_CLICKED = "email.clicked"
EMAIL_UNSUBSCRIBED = "email.unsubscribed"
EMAIL_BOUNCED = "email.bounced"
EMAIL_COMPLAINED = "email.complained"
# An address flagged opted out or invalid, however (crm/suppression.flag): one per person
# with it, so that what they are in ends for every one of them.
ADDRESS_SUPPRESSED = "address.suppressed"
MASS_EMAIL_STARTED = "mass_email.started"
MASS_EMAIL_COMPLETED = "mass_email.completed"
IMPORT_FINISHED = "import.finished"
WEBHOOK_TEST = "webhook.test"

TYPES = (
    CONTACT_CREATED,
    CONTACT_UPDATED,
    CONTACT_DELETED,
    LIST_MEMBER_ADDED,
    LIST_MEMBER_REMOVED,
    SUBSCRIPTION_CONFIRMED,
    EMAIL_SENT,
    EMAIL_OPENED,
    EMAIL_CLICKED,
    EMAIL_UNSUBSCRIBED,
    EMAIL_BOUNCED,
    EMAIL_COMPLAINED,
    ADDRESS_SUPPRESSED,
    MASS_EMAIL_STARTED,
    MASS_EMAIL_COMPLETED,
    IMPORT_FINISHED,
    WEBHOOK_TEST,
)

# The oldest transaction of this database still running other than the reader's own, or
# else the reader's own plus one: every row with a lower tx has been committed or rolled back
# (or is the reader's). pg_stat_activity gives running transactions' ids per database in 32
# bits; the epoch comes from the reader's own 64-bit id (ids running at once are less than
# 2**31 apart, so the nearest of the candidates in this epoch and its neighbours is the one).
_OLDEST_OPEN_TX_SQL = """
WITH me AS (SELECT pg_current_xact_id()::text::bigint AS xid),
running AS (
    SELECT (me.xid & ~4294967295) | backend_xid::text::bigint AS xid, me.xid AS mine
    FROM me, pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL
)
SELECT LEAST(
    (SELECT xid + 1 FROM me),
    (SELECT MIN(CASE WHEN xid > mine + 2147483648 THEN xid - 4294967296
                     WHEN xid < mine - 2147483648 THEN xid + 4294967296
                     ELSE xid END) FROM running)
)
"""


@dataclass(frozen=True)
class NewEvent:
    """One event to record; `person` is a (type, id) pair such as ("contact", 12)."""

    type: str
    data: dict = field(default_factory=dict)
    person: tuple[str, int] | None = None
    occurred_at: datetime | None = None


def person_key(person: models.Model | tuple[str, int] | None) -> tuple[str, int] | None:
    """("contact", 12) for a Contact (or Account, Lead, User) or such a pair as it is."""
    if person is None or isinstance(person, tuple):
        return person
    return (person._meta.model_name, person.pk)


def record_event(
    type: str,
    data: dict | None = None,
    *,
    person: models.Model | tuple[str, int] | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Write one event in the caller's transaction."""
    (event,) = record_events([NewEvent(type, data or {}, person_key(person), occurred_at)])
    return event


def record_events(events: Iterable[NewEvent]) -> list[Event]:
    """Write many events in one insert, in the caller's transaction."""
    now = timezone.now()
    rows = []
    for new in events:
        if new.type not in TYPES:
            raise ValueError(f"Unknown event type {new.type!r}.")
        person_type, person_id = new.person or ("", None)
        rows.append(
            Event(
                type=new.type,
                data=new.data,
                person_type=person_type,
                person_id=person_id,
                occurred_at=new.occurred_at or now,
            )
        )
    return Event.objects.bulk_create(rows) if rows else []


def take(
    consumer: str,
    handle: Callable[[list[Event]], None],
    limit: int = 500,
    types: Iterable[str] | None = None,
    rows: bool = False,
) -> int:
    """Hand the next events after `consumer`'s position (at most `limit`) to `handle`, in one
    transaction with moving the position past them; how many there were (0 also when another
    worker holds the position). `types` filters what `handle` sees; the position moves past
    the others all the same. A consumer's first call starts it at the end of the stream.
    `rows`: hand named tuples (id, tx, type, person_type, person_id, data), not model
    instances: for a consumer that reads many at once."""
    start(consumer)
    with transaction.atomic():
        position = _lock(consumer)
        if position is None:
            return 0
        events = _after(position, limit, rows)
        if not events:
            return 0
        wanted = set(types) if types is not None else None
        handle([e for e in events if wanted is None or e.type in wanted])
        last_tx, last_id = events[-1].tx, events[-1].id
        EventConsumer.objects.filter(name=consumer).update(
            tx=last_tx, event_id=last_id, updated_at=timezone.now()
        )
    return len(events)


def start(consumer: str) -> None:
    """Give `consumer` a position at the end of the stream if it has none yet: it hears of
    what happens from now on, not of everything before it existed."""
    if EventConsumer.objects.filter(name=consumer).exists():
        return
    tx, event_id = end_of_stream()
    # Two workers starting the same consumer at once: the second finds the first's row.
    EventConsumer.objects.bulk_create(
        [EventConsumer(name=consumer, tx=tx, event_id=event_id)], ignore_conflicts=True
    )


def end_of_stream() -> tuple[int, int]:
    last = Event.objects.order_by("-tx", "-id").values_list("tx", "id").first()
    return last or (0, 0)


def position(consumer: str) -> tuple[int, int] | None:
    row = EventConsumer.objects.filter(name=consumer).values_list("tx", "event_id").first()
    return row


def purge(older_than: timedelta) -> int:
    """Delete events older than `older_than` that every consumer has read; how many."""
    cutoff = timezone.now() - older_than
    positions = list(EventConsumer.objects.values_list("tx", "event_id"))
    read_by_all = min(positions) if positions else end_of_stream()
    done = Event.objects.filter(occurred_at__lt=cutoff).filter(
        models.Q(tx__lt=read_by_all[0]) | models.Q(tx=read_by_all[0], id__lte=read_by_all[1])
    )
    deleted, _by_model = done.delete()
    return deleted


def _lock(consumer: str) -> tuple[int, int] | None:
    """Lock `consumer`'s position for this transaction: its (tx, id), or None when another
    worker holds it (PostgreSQL). SQLite takes its one write lock here, by writing first."""
    rows = EventConsumer.objects.filter(name=consumer)
    if connection.vendor == "postgresql":
        row = rows.select_for_update(skip_locked=True).values_list("tx", "event_id").first()
        return row
    rows.update(updated_at=timezone.now())
    return rows.values_list("tx", "event_id").first()


def _after(position: tuple[int, int], limit: int, rows: bool = False) -> list:
    table = Event._meta.db_table
    where, params = "(tx, id) > (%s, %s)", [position[0], position[1]]
    if connection.vendor == "postgresql":
        # Its own statement, before the read: a transaction that was running here is in the
        # answer, and one that ended since is seen by the read's newer snapshot.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # activity is cached per transaction
            cursor.execute(_OLDEST_OPEN_TX_SQL)
            (oldest_open,) = cursor.fetchone()
        where, params = where + " AND tx < %s", [*params, oldest_open]
    if rows:
        after = RawSQL(where, params, output_field=models.BooleanField())
        columns = ("id", "tx", "type", "person_type", "person_id", "data")
        read = Event.objects.filter(after).order_by("tx", "id").values_list(*columns, named=True)
        return list(read[:limit])
    return list(
        Event.objects.raw(
            f"SELECT * FROM {table} WHERE {where} ORDER BY tx, id LIMIT %s", [*params, limit]
        )
    )


def record_rows(
    type: str,
    select_sql: str,
    params: list | tuple,
    *,
    person_type: str = "",
    data: dict[str, str],
    constants: dict | None = None,
) -> int:
    """Record one event `type` per row of `select_sql` in one INSERT … SELECT, for set-based
    changes whose rows never come into Python (adding a selection to a list). The select
    gives `person_id` (and `person_type`, unless all are of `person_type`) and the columns
    `data` names: payload key -> SQL expression over the select's row `src`; `constants` are
    added to every payload. How many were recorded."""
    if type not in TYPES:
        raise ValueError(f"Unknown event type {type!r}.")
    postgres = connection.vendor == "postgresql"
    build, cast = ("jsonb_build_object", "::jsonb") if postgres else ("json_object", "")
    text = "::text" if postgres else ""
    kind = "%s" + text if person_type else "src.person_type"
    # A row without a person (its person was deleted) has `person` null, as record_events.
    person = (
        f"CASE WHEN src.person_id IS NULL THEN NULL "
        f"ELSE {build}('type', {kind}, 'id', src.person_id) END"
    )
    pairs = ", ".join(f"'{key}', {expression}" for key, expression in data.items())
    payload = f"{build}('person', {person}{', ' if pairs else ''}{pairs})"
    payload = f"({payload} || %s{cast})" if postgres else f"json_patch({payload}, %s)"
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    table = connection.ops.quote_name(Event._meta.db_table)
    sql = (
        f"INSERT INTO {table} (tx, type, occurred_at, person_type, person_id, data) "
        f"SELECT 0, %s, %s, COALESCE({kind}, ''), src.person_id, {payload} "
        f"FROM ({select_sql}) src"
    )
    kinds = [person_type, person_type] if person_type else []
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [type, now, *kinds, json.dumps(constants or {}), *params],
        )
        return cursor.rowcount
