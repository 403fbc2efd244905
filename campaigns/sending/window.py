"""The hourly window: how many items were sent in the last hour, read from a few rows whatever
the hour's volume.

Counting the queue's items sent in the last hour at every claim costs as much as the hour's
volume: after 100,000 sends each claim read 100,000 index entries. So recording sent items also
adds them to a count per minute (SentMinute), in the same statement or transaction as their
status, so that the two never disagree, and the window is

    the counts of every minute from the one it starts in, less the items of that first minute
    sent before the window's start, counted from the queue (less than one minute's sends, on
    the sent_at index).

That is exact: the minute in which the window starts is the only one partly in it. It never
counts less than was sent: a sent item whose row is deleted (its mass email deleted) stays in
its minute's count, and if it was sent before the window's start it is merely not taken off
(a count a little high for less than a minute, never one too low). A minute's
count is spread over SHARDS rows, so that workers recording at the same moment do not wait for
each other's row lock. Counts older than KEEP are deleted by the sending job (forget_old).
"""

import datetime
import random

from django.db import connection

from campaigns.models import EmailQueueItem, SentMinute

WINDOW = datetime.timedelta(hours=1)
SHARDS = 8
# Counts are kept a while past the window, for a claim that started a little earlier.
KEEP = 2 * WINDOW
TABLE = EmailQueueItem._meta.db_table
MINUTES_TABLE = SentMinute._meta.db_table

# The window's count, with `since` (its start) and `first_minute` (the minute it starts in) as
# parameters: see window_params.
COUNT_SQL = (
    f"(SELECT COALESCE(SUM(sent), 0) FROM {MINUTES_TABLE} WHERE minute >= %(first_minute)s) "
    f"- (SELECT COUNT(*) FROM {TABLE} WHERE sent_at >= %(first_minute)s AND sent_at < %(since)s "
    f"AND is_test = %(false)s)"
)

# Adds `count` to a minute's shard; the same text on PostgreSQL and SQLite.
ADD_SQL = (
    f"INSERT INTO {MINUTES_TABLE} (minute, shard, sent) VALUES (%s, %s, %s) "
    f"ON CONFLICT (minute, shard) DO UPDATE SET sent = {MINUTES_TABLE}.sent + excluded.sent"
)

# PostgreSQL: an UPDATE that sets items Sent and returns their is_test, and the count of those
# that are not tests added to their minute, in one statement ({update}: the UPDATE, which must
# end with RETURNING is_test; then the minute and the shard as parameters).
ADD_UPDATED_SQL = (
    "WITH updated AS ({update}) "
    f"INSERT INTO {MINUTES_TABLE} (minute, shard, sent) "
    "SELECT %s, %s, COUNT(*) FROM updated WHERE NOT updated.is_test HAVING COUNT(*) > 0 "
    f"ON CONFLICT (minute, shard) DO UPDATE SET sent = {MINUTES_TABLE}.sent + excluded.sent"
)


def minute_of(at: datetime.datetime) -> datetime.datetime:
    return at.replace(second=0, microsecond=0)


def window_params(now: datetime.datetime) -> dict:
    """COUNT_SQL's parameters for the window that ends at `now`."""
    since = now - WINDOW
    adapt = connection.ops.adapt_datetimefield_value
    return {"since": adapt(since), "first_minute": adapt(minute_of(since)), "false": False}


def sent_in_window(now: datetime.datetime) -> int:
    """Non-test items sent in the hour before `now`, all mass emails."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {COUNT_SQL}", window_params(now))
        return cursor.fetchone()[0]


def add_sent(at: datetime.datetime, count: int) -> None:
    """Count `count` non-test items as sent at `at`. Call it in the transaction that sets them
    Sent (campaigns.sending.outcomes does, and the test factories)."""
    if count:
        with connection.cursor() as cursor:
            cursor.execute(ADD_SQL, [minute_param(at), random.randrange(SHARDS), count])


def add_updated_params(at: datetime.datetime) -> list:
    """ADD_UPDATED_SQL's own parameters, after the UPDATE's."""
    return [minute_param(at), random.randrange(SHARDS)]


def minute_param(at: datetime.datetime):
    return connection.ops.adapt_datetimefield_value(minute_of(at))


def forget_old(now: datetime.datetime) -> None:
    SentMinute.objects.filter(minute__lt=minute_of(now - KEEP)).delete()
