"""List growth per week: target list entries added and opt-outs recorded, folded into
WeeklyCounter by id like the results counters (campaigns.results.counters calls `fold` in
Update Results), so the dashboard reads a dozen counter rows plus the rows after the watermark,
however many entries an import added over the weeks.

A week is counted when its rows are added; an entry removed later still counted in the week it
came in (people in), as an opt-out stays counted in its week (people out).
"""

import datetime

from django.db import transaction
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from campaigns.models import CounterWatermark, WeeklyCounter
from crm.models import ConsentRecord
from targetlists.models import TargetListEntry

ENTRIES, OPT_OUTS = "entries", "opt_outs"
BATCH = 500_000


def _rows(kind: str) -> tuple[QuerySet, str]:
    """The rows of `kind` and their date field."""
    if kind == ENTRIES:
        return TargetListEntry.objects.all(), "added_at"
    return ConsentRecord.objects.filter(action=ConsentRecord.Action.OPT_OUT), "at"


def _week(value) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return timezone.localdate(value) if timezone.is_aware(value) else value.date()
    return value


def _per_week(rows: QuerySet, field: str) -> dict[datetime.date, int]:
    grouped = rows.order_by().annotate(week=TruncWeek(field)).values_list("week")
    counts: dict[datetime.date, int] = {}
    for week, n in grouped.annotate(n=Count("*")):
        counts[_week(week)] = counts.get(_week(week), 0) + n
    return counts


def _mark(kind: str) -> int:
    return (
        CounterWatermark.objects.filter(source=kind).values_list("last_id", flat=True).first() or 0
    )


def fold() -> dict[str, int | None]:
    """Fold the rows of each kind after its watermark (a batch at most); the rows folded, None
    for a kind with no new rows."""
    folded = {}
    for kind in (ENTRIES, OPT_OUTS):
        rows, field = _rows(kind)
        with transaction.atomic():
            CounterWatermark.objects.get_or_create(source=kind)
            mark = CounterWatermark.objects.select_for_update().get(source=kind)
            model_rows = rows.model.objects.filter(id__gt=mark.last_id).order_by("id")
            last = (
                model_rows.values_list("id", flat=True)[BATCH - 1 : BATCH].first()
                or model_rows.values_list("id", flat=True).last()
            )
            if last is None:
                folded[kind] = None
                continue
            batch = rows.filter(id__gt=mark.last_id, id__lte=last)
            counts = _per_week(batch, field)
            stored = dict(
                WeeklyCounter.objects.filter(kind=kind, week__in=counts).values_list(
                    "week", "count"
                )
            )
            WeeklyCounter.objects.bulk_create(
                [
                    WeeklyCounter(kind=kind, week=week, count=n + stored.get(week, 0))
                    for week, n in counts.items()
                ],
                update_conflicts=True,
                unique_fields=["kind", "week"],
                update_fields=["count"],
            )
            folded[kind] = sum(counts.values())
            mark.last_id, mark.updated_at = last, timezone.now()
            mark.save(update_fields=["last_id", "updated_at"])
    return folded


def weekly(kind: str, since: datetime.date) -> dict[datetime.date, int]:
    """Rows of `kind` per week from the week of `since`: the counters plus the rows after the
    watermark."""
    counts = dict(
        WeeklyCounter.objects.filter(kind=kind, week__gte=since).values_list("week", "count")
    )
    rows, field = _rows(kind)
    start = timezone.make_aware(datetime.datetime.combine(since, datetime.time.min))
    tail = rows.filter(id__gt=_mark(kind), **{f"{field}__gte": start})
    for week, n in _per_week(tail, field).items():
        counts[week] = counts.get(week, 0) + n
    return counts


def forget() -> None:
    """Drop the counters and watermarks (rebuild_counters folds everything again)."""
    WeeklyCounter.objects.all().delete()
    CounterWatermark.objects.filter(source__in=[ENTRIES, OPT_OUTS]).update(last_id=0)
