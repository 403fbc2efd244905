"""The campaign log read as a stream of events: in id order, from a time or after a position,
fast on millions of rows, each opened, clicked and opted-out record told human or machine.

Log records are written with the time they are written (`action_date`, auto_now_add), so dates
grow with ids but for moments of overlap between transactions. `first_id_since` finds by
binary search on the primary key (a few index probes) the first id whose date is at or after
a time, less SKEW; a stream then reads `id >= that AND action_date >= time ORDER BY id`, one
index range, instead of scanning the log for dates (which have no index: every open and click
writes a log row, and an index there would slow them all).
"""

from datetime import datetime, timedelta

from django.apps import apps
from django.db import connection
from django.db.models import Q, QuerySet

from campaigns.models import CampaignLogRecord

Action = CampaignLogRecord.Action
# Records written this much out of date order are still found (a transaction's length).
SKEW = timedelta(hours=1)
TRACKED = {
    Action.OPENED: ("open", "click"),
    Action.CLICKED: ("click",),
    Action.OPTED_OUT: ("opt_out", "one_click"),
}


def first_id_since(moment: datetime) -> int | None:
    """The smallest log id that may have a date at or after `moment` (None: the log is
    empty): a binary search over ids, each step one primary-key probe."""
    dated = CampaignLogRecord.objects.order_by("id").values_list("id", "action_date")
    first, last = dated.first(), dated.last()
    if first is None:
        return None
    target = moment - SKEW
    if last[1] < target:
        return last[0] + 1  # every record is older: only later ones can come
    if first[1] >= target:
        return first[0]

    def is_new(position: int) -> bool:  # the first record at or after `position` is new
        return dated.filter(id__gte=position).first()[1] >= target

    low, high = first[0], last[0]  # is_new(low) is False, is_new(high) is True
    if connection.vendor == "postgresql":
        return _search_in_one_statement(low, high, target)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if is_new(middle) else (middle, high)
    return dated.filter(id__gte=high).first()[0]


def _search_in_one_statement(low: int, high: int, target: datetime) -> int:
    """The same binary search as a recursive query: its twenty-odd probes in one round trip."""
    table = CampaignLogRecord._meta.db_table
    probe = f"(SELECT action_date FROM {table} WHERE id >= %s ORDER BY id LIMIT 1)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE search(low, high) AS (
                SELECT %s::bigint, %s::bigint
                UNION ALL
                SELECT CASE WHEN probe.new THEN low ELSE middle END,
                       CASE WHEN probe.new THEN middle ELSE high END
                FROM (
                    SELECT low, high, (low + high) / 2 AS middle,
                           {probe.replace("%s", "(low + high) / 2")} >= %s AS new
                    FROM search WHERE high - low > 1
                ) AS probe
            )
            SELECT id FROM {table}
            WHERE id >= (SELECT high FROM search WHERE high - low <= 1 LIMIT 1)
            ORDER BY id LIMIT 1
            """,
            [low, high, target],
        )
        return cursor.fetchone()[0]


def human_flags(records: list[dict]) -> dict[int, bool | None]:
    """For each opened, clicked or opted-out record (dicts with id, action, queue_item_id and
    tracking_url_id): True if a person's hit backs it, False if only machines' hits (a proxy's
    prefetch, a link scanner), None if no hit is known (e.g. reported by an ESP)."""
    tracked = [row for row in records if row["action"] in TRACKED and row["queue_item_id"]]
    if not tracked:
        return {}
    hits = apps.get_model("tracking", "TrackingHit").objects.filter(
        queue_item_id__in={row["queue_item_id"] for row in tracked},
        kind__in=("open", "click", "opt_out", "one_click"),
    )
    seen: dict[tuple, bool] = {}
    for item, kind, link, machine in hits.values_list(
        "queue_item_id", "kind", "tracking_url_id", "is_machine"
    ):
        for key in ((item, kind, None), (item, kind, link)):
            seen[key] = seen.get(key, False) or not machine
    flags = {}
    for row in tracked:
        link = row["tracking_url_id"] if row["action"] == Action.CLICKED else None
        keys = [(row["queue_item_id"], kind, link) for kind in TRACKED[row["action"]]]
        found = [seen[key] for key in keys if key in seen]
        flags[row["id"]] = any(found) if found else None
    return flags


def stream(records: QuerySet, since: datetime | None = None) -> QuerySet:
    """`records` (a filtered log) from `since` on, in id order."""
    if since is not None:
        start = first_id_since(since)
        if start is None:
            return records.none()
        records = records.filter(Q(id__gte=start), action_date__gte=since)
    return records.order_by("id")
