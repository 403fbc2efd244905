"""Claiming queue items for sending, so that no item is ever sent by two runs at once.

A claim moves Pending items to Sending with `claimed_at` set, in one conditional UPDATE that
returns the ids it changed. On PostgreSQL the candidate rows are picked with FOR UPDATE SKIP
LOCKED, so concurrent runs on many machines take disjoint items without waiting for each other;
on SQLite the database write lock is global, so the conditional UPDATE is already exclusive.

The hourly window is computed and the claim taken under one lock (pg_advisory_xact_lock on
PostgreSQL, SQLite's write lock), and counts items Sending as well as items sent in the last
hour (read from counts per minute: campaigns.sending.window), so two overlapping runs can never
together exceed the hourly limit.

A portion claims fresh items in queue order from where its last claim ended (`after`): without
that, each claim would walk past every item already sent to find the first Pending one (the
planner takes Pending rows for spread evenly through the queue), and a list of 1,000,000 would
cost more per claim the further it got. An item the walk leaves behind was claimed in this run,
or was locked by another worker's claim; the next run starts from the queue's beginning again.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import EmailQueueItem, MassEmail, SendingRun
from campaigns.sending import window

Status = EmailQueueItem.Status
# A claim older than this belongs to a worker that died: see resolve_stale_claims.
LEASE = datetime.timedelta(seconds=getattr(settings, "MASS_EMAIL_SENDING_LEASE_SECONDS", 900))
# Arbitrary constant naming the advisory lock that serialises the hourly window.
WINDOW_LOCK_KEY = 0x6D61_7373  # "mass"
TABLE = EmailQueueItem._meta.db_table
MASS_EMAIL_TABLE = MassEmail._meta.db_table
RUN_TABLE = SendingRun._meta.db_table
IN_PROCESS = MassEmail.Status.IN_PROCESS


def sent_in_window(now: datetime.datetime) -> int:
    """Non-test items sent in the hour before `now` or being sent right now, all mass emails."""
    # One round trip: the window (campaigns.sending.window), then the items Sending (status
    # index).
    sql = (
        f"SELECT {window.COUNT_SQL} "
        f"+ (SELECT COUNT(*) FROM {TABLE} WHERE status = %(sending)s AND is_test = %(false)s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {**window.window_params(now), "sending": Status.SENDING})
        return cursor.fetchone()[0]


def hourly_allowance(max_per_hour: int, now: datetime.datetime) -> int:
    """How many more items may be claimed now without exceeding `max_per_hour`."""
    return max(0, max_per_hour - sent_in_window(now))


def _lock_window() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [WINDOW_LOCK_KEY])


@dataclass
class Claimed:
    """What a claim took: the ids, and the last fresh (never deferred) one among them, where
    the portion's next claim goes on from (`after`)."""

    ids: list[int]
    last_fresh: int


def claim(mass_email_id: int, limit: int, now: datetime.datetime) -> list[int]:
    """The ids of up to `limit` items claimed now, from the queue's start (see _claim)."""
    return _claim(mass_email_id, limit, now).ids


def claim_time(run_start: datetime.datetime) -> datetime.datetime:
    """When a claim of the run started at `run_start` is taken: the clock's time, or the run's
    start where that is later (a test that moves time forward)."""
    return max(run_start, timezone.now())


def _claim(mass_email_id: int, limit: int, run_start: datetime.datetime, after: int = 0) -> Claimed:
    """Move up to `limit` Pending (non-test) items of an In Process mass email to Sending; their
    ids. Nothing for a mass email that is not In Process (paused, canceled meanwhile).

    `claimed_at` is the time of the last claim (claim_time), which the lease counts from; as it
    is never earlier than the start of the run that took it, an item that went back to Pending
    after a temporary failure, or waits for its domain, is not claimed again by the run that
    tried it (the one started at `run_start`). A deferred item is claimed once its
    `next_attempt_at` has come. Two concurrent calls never return the same id. Must run inside
    a transaction. Fresh items are taken from ids above `after`.
    """
    if limit <= 0:
        return Claimed([], after)
    skip_locked = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    # Two statements on purpose: PostgreSQL may re-run an `IN (… LIMIT n SKIP LOCKED)` subquery
    # inside an UPDATE, and each re-run skips the rows just locked, claiming more than n.
    # Fresh items first, in queue order; then deferred items whose next attempt is due, oldest
    # due first: a deferred item never stands in front of fresh ones.
    pick = (
        f"SELECT id FROM {TABLE} WHERE mass_email_id = %s AND status = %s AND is_test = %s "
        f"AND (claimed_at IS NULL OR claimed_at < %s) "
        f"AND EXISTS (SELECT 1 FROM {MASS_EMAIL_TABLE} WHERE id = %s AND status = %s) "
    )
    fresh = f"{pick} AND next_attempt_at IS NULL AND id > %s ORDER BY id LIMIT %s{skip_locked}"
    due = f"{pick} AND next_attempt_at <= %s ORDER BY next_attempt_at, id LIMIT %s{skip_locked}"
    adapt = connection.ops.adapt_datetimefield_value
    at = claim_time(run_start)
    params = [mass_email_id, Status.PENDING, False, adapt(run_start), mass_email_id, IN_PROCESS]
    with connection.cursor() as cursor:
        cursor.execute(fresh, [*params, after, limit])
        ids = [row[0] for row in cursor.fetchall()]
        last_fresh = max(ids, default=after)
        if len(ids) < limit:
            cursor.execute(due, [*params, adapt(at), limit - len(ids)])
            ids += [row[0] for row in cursor.fetchall()]
    # The rows are locked (PostgreSQL) or the database is (SQLite's write lock, taken at BEGIN
    # IMMEDIATE), so every picked row is still Pending here.
    EmailQueueItem.objects.filter(id__in=ids).update(status=Status.SENDING, claimed_at=at)
    return Claimed(sorted(ids), last_fresh)


def claim_portion(
    mass_email_id: int,
    wanted: int,
    max_per_hour: int,
    run_start: datetime.datetime,
    run_id: int | None = None,
    after: int = 0,
) -> Claimed:
    """Claim up to `wanted` items of a mass email for the run started at `run_start`, within
    what the hourly window (the hour before the claim) and the run's batch budget
    (SendingRun.budget, shared by the workers of one run) still allow; fresh items from ids
    above `after` (the `last_fresh` of the portion's previous claim).

    On PostgreSQL: the window's lock, then one statement that computes the allowance, picks the
    rows and claims them. Elsewhere the steps run one by one under SQLite's write lock."""
    with transaction.atomic(savepoint=False):
        _lock_window()
        if connection.vendor == "postgresql":
            return _claim_in_one_statement(
                mass_email_id, wanted, max_per_hour, run_start, run_id, after
            )
        allowed = min(wanted, hourly_allowance(max_per_hour, claim_time(run_start)))
        if run_id is not None:
            allowed = min(allowed, _budget_left(run_id, wanted))
        claimed = _claim(mass_email_id, allowed, run_start, after)
        if run_id is not None and claimed.ids:
            SendingRun.objects.filter(pk=run_id).update(claimed=F("claimed") + len(claimed.ids))
        return claimed


def _budget_left(run_id: int, wanted: int) -> int:
    run = SendingRun.objects.filter(pk=run_id).values_list("budget", "claimed").first()
    if run is None or run[0] is None:
        return wanted
    return max(0, run[0] - run[1])


# The allowance (hourly window, then the run's budget), the fresh items in queue order from the
# portion's position, then the deferred ones whose time has come, claimed together; the rows
# claimed are found by their ids (an array: a join would let the planner scan the whole queue).
# MATERIALIZED makes each CTE run once: an `IN (… LIMIT n SKIP LOCKED)` subquery inside an
# UPDATE may be re-run and claim more than n.
CLAIM_SQL = f"""
WITH allowance AS MATERIALIZED (
  SELECT GREATEST(0, LEAST(
    %(wanted)s,
    %(max_per_hour)s
      - ({window.COUNT_SQL})
      - (SELECT COUNT(*) FROM {TABLE} WHERE status = %(sending)s AND is_test = false),
    COALESCE((SELECT budget - claimed FROM {RUN_TABLE} WHERE id = %(run)s), %(wanted)s)
  )) AS n
),
candidates AS MATERIALIZED (
  SELECT 1 FROM {MASS_EMAIL_TABLE} WHERE id = %(mass_email)s AND status = %(in_process)s
),
fresh AS MATERIALIZED (
  SELECT id FROM {TABLE}
  WHERE mass_email_id = %(mass_email)s AND status = %(pending)s AND is_test = false
    AND (claimed_at IS NULL OR claimed_at < %(run_start)s) AND next_attempt_at IS NULL
    AND id > %(after)s AND EXISTS (SELECT 1 FROM candidates)
  ORDER BY id LIMIT (SELECT n FROM allowance) FOR UPDATE SKIP LOCKED
),
due AS MATERIALIZED (
  SELECT id FROM {TABLE}
  WHERE mass_email_id = %(mass_email)s AND status = %(pending)s AND is_test = false
    AND (claimed_at IS NULL OR claimed_at < %(run_start)s) AND next_attempt_at <= %(at)s
    AND EXISTS (SELECT 1 FROM candidates)
  ORDER BY next_attempt_at, id
  LIMIT (SELECT n FROM allowance) - (SELECT COUNT(*) FROM fresh) FOR UPDATE SKIP LOCKED
),
picked AS MATERIALIZED (SELECT id FROM fresh UNION ALL SELECT id FROM due),
counted AS (
  UPDATE {RUN_TABLE} SET claimed = claimed + (SELECT COUNT(*) FROM picked) WHERE id = %(run)s
)
UPDATE {TABLE} SET status = %(sending)s, claimed_at = %(at)s
WHERE {TABLE}.id = ANY(ARRAY(SELECT id FROM picked))
RETURNING {TABLE}.id, {TABLE}.next_attempt_at IS NULL
"""


def _claim_in_one_statement(
    mass_email_id: int, wanted: int, max_per_hour: int, run_start, run_id: int | None, after: int
) -> Claimed:
    if wanted <= 0:
        return Claimed([], after)
    at = claim_time(run_start)
    params = {
        "wanted": wanted,
        "max_per_hour": max_per_hour,
        **window.window_params(at),
        "sending": Status.SENDING,
        "pending": Status.PENDING,
        "run": run_id,
        "mass_email": mass_email_id,
        "in_process": IN_PROCESS,
        "run_start": run_start,
        "at": at,
        "after": after,
    }
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, params)
        rows = cursor.fetchall()
    fresh = [item_id for item_id, is_fresh in rows if is_fresh]
    return Claimed(sorted(item_id for item_id, _fresh in rows), max(fresh, default=after))


def resolve_stale_claims(now: datetime.datetime, max_attempts: int) -> int:
    """Resolve items left Sending by a worker that died (claim older than LEASE); how many.

    At-least-once: whether the server accepted such a message is unknown, so the item goes back
    to Pending and is sent again, with one attempt counted so that an item that kills its worker
    every time ends Failed after `max_attempts`. Test items are not retried: they become Failed.
    """
    stale = EmailQueueItem.objects.filter(status=Status.SENDING, claimed_at__lt=now - LEASE)
    interrupted = _("The worker sending this message stopped before recording the result.")
    with transaction.atomic():
        failed = stale.filter(Q(is_test=True) | Q(attempts__gte=max_attempts - 1)).update(
            status=Status.FAILED,
            attempts=F("attempts") + 1,
            claimed_at=None,
            last_error=interrupted,
        )
        retried = stale.update(
            status=Status.PENDING,
            attempts=F("attempts") + 1,
            claimed_at=None,
            last_error=f"{interrupted} {_('It will be sent again.')}",
        )
    return failed + retried


def renew(item_ids: list[int], run_start: datetime.datetime) -> None:
    """Renew the lease of claimed items still Sending, for a worker whose chunks take long to
    send (a slow relay, a low messages-per-second): without it, the next run would take them
    for a dead worker's after LEASE and send them again. An item no longer Sending (resolved
    meanwhile) is left alone."""
    at = claim_time(run_start)
    EmailQueueItem.objects.filter(id__any_of=item_ids, status=Status.SENDING).update(claimed_at=at)


def release(item_ids: list[int], run_id: int | None = None) -> None:
    """Give claimed items back (Pending) without counting an attempt: nothing was sent. They
    no longer count against the run's batch budget."""
    released = EmailQueueItem.objects.filter(id__in=item_ids, status=Status.SENDING).update(
        status=Status.PENDING, claimed_at=None
    )
    give_back(run_id, released)


def give_back(run_id: int | None, count: int) -> None:
    """`count` claimed items of the run went back to Pending without being tried (released,
    or waiting for their domain): they no longer count against its batch budget.

    Under the window's lock, as a claim updates the run's row: a transaction that took the row
    first and then claimed would wait for a claim waiting for the row (a deadlock)."""
    if run_id is None or not count:
        return
    with transaction.atomic(savepoint=False):
        _lock_window()
        SendingRun.objects.filter(pk=run_id, claimed__gte=count).update(
            claimed=F("claimed") - count
        )
