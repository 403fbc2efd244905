"""Fold new log records and tracking hits into the results counters (campaigns.models.results).

Each source table is folded by primary key range: the rows after its watermark, grouped by the
counters' keys in one GROUP BY per kind of counter, then added to the counters under a lock of
the watermark row, so two runs never fold the same rows. The same grouping, run on the rows
after the watermark, gives campaigns.results.figures the figures not folded yet (`log_groups`,
`hit_groups`).

Tracking hits are folded only once settled (older than SETTLE_SECONDS): the machine rules may
still mark a hit up to BURST_SECONDS (5 s) after a later one arrives, and buffered hits come in
up to about a minute late; the newer ones are read live. Hits are read through the app registry:
campaigns does not import tracking (it sits on the floor above).
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from django.apps import apps
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Lower, StrIndex, Substr, Trunc
from django.utils import timezone

from campaigns.models import (
    CampaignLogRecord,
    CounterWatermark,
    EmailQueueItem,
    HitCounter,
    LogCounter,
    TailBlock,
)
from campaigns.results import growth

Action = CampaignLogRecord.Action
LOG, HITS = "log", "hits"
SETTLE_SECONDS = 120
BATCH = 200_000
TAIL_BLOCK = 1000  # ids per block of the unfolded tail kept in TailBlock
ALL_RECIPIENTS = "*"  # bounce_type of the Bounced rows that count recipients
NO_LINK = -1  # tracking_url_id of Clicked records whose link was deleted
LOG_KEY = ("campaign_id", "mass_email_id", "action", "bounce_type", "domain", "tracking_url_id")
HIT_KEY = ("campaign_id", "mass_email_id", "hour", "kind", "tracking_url_id", "is_machine")

Groups = dict[tuple, int]


def tracking_hits() -> QuerySet:
    """Every tracking hit (tracking.TrackingHit, through the app registry)."""
    return apps.get_model("tracking", "TrackingHit").objects.all()


def _domain(field: str):
    return Lower(Substr(field, StrIndex(field, Value("@")) + 1))


def _add(groups: Groups, rows: Iterable[tuple]) -> None:
    for *key, count in rows:
        groups[tuple(key)] += count


def log_groups(records: QuerySet, by_block: bool = False) -> Groups:
    """The non-test `records` counted by LOG_KEY: every record, plus the first Clicked and the
    first Bounced record of each queue item (tracking_url_id 0, bounce_type ALL_RECIPIENTS).
    With `by_block`, each key starts with the record's block of TAIL_BLOCK ids."""
    with no_jit():
        return _log_groups(records, by_block)


def _mass_email_of_item() -> Subquery:
    """The row's queue item's mass email, looked up by primary key per row: a join let the
    planner read the whole queue (a hash join) to count a few thousand rows."""
    item = EmailQueueItem.objects.filter(pk=OuterRef("queue_item_id")).values("mass_email_id")
    return Subquery(item[:1], output_field=BigIntegerField())


def _block(by_block: bool) -> dict:
    return {"block": (F("id") - 1) / TAIL_BLOCK} if by_block else {}


def _log_groups(records: QuerySet, by_block: bool = False) -> Groups:
    records = records.filter(is_test=False).order_by()
    keyed = records.annotate(
        mass_email_id=Coalesce(_mass_email_of_item(), 0),
        domain=_domain("email"),
        **_block(by_block),
    )
    first_keys = ("block",) if by_block else ()
    groups: Groups = defaultdict(int)
    plain = keyed.exclude(action=Action.CLICKED).annotate(url=Value(0))
    clicks = keyed.filter(action=Action.CLICKED).annotate(url=Coalesce("tracking_url_id", NO_LINK))
    for part in (plain, clicks):
        rows = part.values_list(*first_keys, *LOG_KEY[:-1], "url").annotate(n=Count("*"))
        _add(groups, rows)
    for action in (Action.CLICKED, Action.BOUNCED):
        earlier = CampaignLogRecord.objects.filter(
            queue_item_id=OuterRef("queue_item_id"),
            action=action,
            is_test=False,
            id__lt=OuterRef("id"),
        )
        first = keyed.filter(action=action).exclude(Exists(earlier))
        first = first.annotate(kind=Value(ALL_RECIPIENTS), url=Value(0))
        rows = first.values_list(
            *first_keys, "campaign_id", "mass_email_id", "action", "kind", "domain", "url"
        ).annotate(n=Count("*"))
        _add(groups, rows)
    return groups


def hit_groups(hits: QuerySet, by_block: bool = False) -> Groups:
    """The non-test opens and clicks of `hits` counted by HIT_KEY, plus "opener" and "clicker"
    rows: the recipients whose first human open (a click counts) or first human click it is.
    With `by_block`, each key starts with the hit's block of TAIL_BLOCK ids."""
    with no_jit():
        return _hit_groups(hits, by_block)


@contextmanager
def no_jit() -> Iterator[None]:
    """PostgreSQL's JIT off, in a transaction of its own (SET LOCAL): the subqueries' cost
    estimate (per hit) makes it compile for hundreds of milliseconds a query that runs in tens.
    Nothing on SQLite, where a transaction would take the write lock for a read."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
        yield


def _hit_groups(hits: QuerySet, by_block: bool = False) -> Groups:
    kinds = ("open", "click")
    hits = hits.filter(is_test=False, kind__in=kinds).order_by()
    keyed = hits.annotate(
        mass_email_id=_mass_email_of_item(),
        hour=Trunc("at", "hour", tzinfo=UTC),
        url=Coalesce("tracking_url_id", 0),
        **_block(by_block),
    )
    first_keys = ("block",) if by_block else ()
    earlier = tracking_hits().filter(
        queue_item_id=OuterRef("queue_item_id"),
        is_machine=False,
        is_test=False,
        id__lt=OuterRef("id"),
    )
    # One pass (one join to the queue) counts all three; the cheap tests come first.
    person = Q(is_machine=False)
    first_open = person & ~Exists(earlier.filter(kind__in=kinds))
    first_click = person & Q(kind="click") & ~Exists(earlier.filter(kind="click"))
    rows = keyed.values_list(
        *first_keys, "campaign_id", "mass_email_id", "hour", "kind", "url", "is_machine"
    ).annotate(
        n=Count("*"),
        openers=Count("id", filter=first_open),
        clickers=Count("id", filter=first_click),
    )
    groups: Groups = defaultdict(int)
    for *block, campaign_id, mass_email_id, hour, kind, url, machine, n, openers, clickers in rows:
        groups[*block, campaign_id, mass_email_id, hour, kind, url, machine] += n
        for name, first in (("opener", openers), ("clicker", clickers)):
            if first:
                groups[*block, campaign_id, mass_email_id, hour, name, 0, False] += first
    return groups


def _store(model, key_fields: tuple, groups: Groups) -> None:
    """Add `groups` to the counters of `model` (the caller holds the watermark lock)."""
    if not groups:
        return
    campaigns = {key[0] for key in groups}
    existing = model.objects.filter(campaign_id__in=campaigns)
    totals = dict(groups)
    wanted = set(groups)
    for row in existing.values_list(*key_fields, "count"):
        if tuple(row[:-1]) in wanted:
            totals[tuple(row[:-1])] += row[-1]
    counters = [
        model(**dict(zip(key_fields, key, strict=True)), count=n) for key, n in totals.items()
    ]
    unique = [name.removesuffix("_id") if name == "campaign_id" else name for name in key_fields]
    model.objects.bulk_create(
        counters,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=unique,
        update_fields=["count"],
    )


def _watermark(source: str) -> CounterWatermark:
    CounterWatermark.objects.get_or_create(source=source)
    return CounterWatermark.objects.select_for_update().get(source=source)


def _fold_log() -> int | None:
    """Fold the next batch of log records; how many it folded, None when none had come."""
    with transaction.atomic():
        mark = _watermark(LOG)
        log = CampaignLogRecord.objects.filter(id__gt=mark.last_id).order_by("id")
        last = (
            log.values_list("id", flat=True)[BATCH - 1 : BATCH].first()
            or log.values_list("id", flat=True).last()
        )
        if last is None:
            return None
        batch = CampaignLogRecord.objects.filter(id__gt=mark.last_id, id__lte=last)
        _store(LogCounter, LOG_KEY, log_groups(batch))
        folded = batch.count()
        mark.last_id, mark.updated_at = last, timezone.now()
        mark.save(update_fields=["last_id", "updated_at"])
        _forget_blocks(LOG, last)
    return folded


def settled_until(after: int) -> int | None:
    """The last hit id after `after` up to which every hit is settled (at most BATCH later)."""
    hits = tracking_hits().filter(id__gt=after, id__lte=after + BATCH)
    cutoff = timezone.now() - timedelta(seconds=SETTLE_SECONDS)
    unsettled = hits.filter(at__gte=cutoff).order_by("id").values_list("id", flat=True).first()
    if unsettled is not None:
        return unsettled - 1 if unsettled - 1 > after else None
    last = hits.order_by("-id").values_list("id", flat=True).first()
    if last is None and tracking_hits().filter(id__gt=after + BATCH).exists():
        return after + BATCH  # a gap of deleted or rolled-back ids: step over it
    return last


def _fold_hits() -> int | None:
    """Fold the next batch of settled hits; how many it folded, None when none was settled."""
    with transaction.atomic():
        mark = _watermark(HITS)
        last = settled_until(mark.last_id)
        if last is None:
            return None
        batch = tracking_hits().filter(id__gt=mark.last_id, id__lte=last)
        _store(HitCounter, HIT_KEY, hit_groups(batch))
        folded = batch.count()
        mark.last_id, mark.updated_at = last, timezone.now()
        mark.save(update_fields=["last_id", "updated_at"])
        _forget_blocks(HITS, last)
    return folded


def update_counters(max_batches: int = 50) -> dict[str, int]:
    """Fold what came since the last run, in batches; returns the rows folded per source."""
    folded = {LOG: 0, HITS: 0}
    for source, fold in ((LOG, _fold_log), (HITS, _fold_hits)):
        for _batch in range(max_batches):
            done = fold()
            if done is None:
                break
            folded[source] += done
    count_tail()
    for _batch in range(max_batches):
        if all(n is None for n in growth.fold().values()):
            break
    return folded


def watermarks() -> dict[str, int]:
    """The last folded id of each source (0 when nothing was folded)."""
    marks = dict(CounterWatermark.objects.values_list("source", "last_id"))
    return {LOG: marks.get(LOG, 0), HITS: marks.get(HITS, 0)}


def rebuild_counters() -> dict[str, int]:
    """Forget the counters and fold everything again (after restoring a backup, say)."""
    with transaction.atomic():
        LogCounter.objects.all().delete()
        HitCounter.objects.all().delete()
        CounterWatermark.objects.update(last_id=0)
        TailBlock.objects.all().delete()
        growth.forget()
    return update_counters(max_batches=10_000)


# The unfolded tail. A page adds to the counters the rows after the watermark. Counting them on
# every page view costs about 10 µs a hit (the join to the queue and the "first open" probes):
# 50,000 hits of a burst took 370-480 ms a page. So the tail is counted in blocks of TAIL_BLOCK
# ids, for every campaign at once, and each whole block's counts are kept (TailBlock) with the
# block's row count and, for hits, machine hit count. A page checks those two numbers for every
# kept block in one indexed query and reuses the block when they still match: a hit's verdict
# only ever changes from a person's to a machine's (tracking.classification.mark_burst), and a
# late commit or a deletion changes the row count, so any change is seen. A changed block is
# counted again, and every later block with it (a hit's "first open" depends on the hits before
# it). Only the rows before the first whole block and after the last one (fewer than
# 2 × TAIL_BLOCK) are counted live, so a page view costs about the same whatever the burst.


def _tail_rows(source: str) -> QuerySet:
    return CampaignLogRecord.objects.all() if source == LOG else tracking_hits()


def _grouped(source: str, rows: QuerySet, by_block: bool = False) -> Groups:
    return log_groups(rows, by_block) if source == LOG else hit_groups(rows, by_block)


def _encode(groups: Groups) -> list:
    return [
        [*(k.isoformat() if isinstance(k, datetime) else k for k in key), n]
        for key, n in groups.items()
    ]


def _decode(source: str, rows: list) -> Groups:
    if source == LOG:
        return {tuple(row[:-1]): row[-1] for row in rows}
    # HIT_KEY: the hour (index 2) is kept as ISO text.
    return {
        (c, m, datetime.fromisoformat(hour), kind, url, machine): n
        for c, m, hour, kind, url, machine, n in rows
    }


def _block_checks(source: str, first: int, last: int) -> dict[int, tuple[int, int]]:
    """(rows, machine hits) of each block from `first` to `last` (excluded), in one query."""
    rows = _tail_rows(source).filter(id__gt=first * TAIL_BLOCK, id__lte=last * TAIL_BLOCK)
    rows = rows.order_by().annotate(block=(F("id") - 1) / TAIL_BLOCK).values_list("block")
    if source == LOG:
        counted = rows.annotate(n=Count("id"), machine=Value(0))
    else:
        counted = rows.annotate(n=Count("id"), machine=Count("id", filter=Q(is_machine=True)))
    return {block: (n, machine) for block, n, machine in counted}


def _forget_blocks(source: str, folded_until: int) -> None:
    """Drop the kept blocks wholly folded now."""
    TailBlock.objects.filter(source=source, block__lt=folded_until // TAIL_BLOCK).delete()


def tail_groups(source: str, after: int) -> Groups:
    """The counts (LOG_KEY or HIT_KEY, every campaign) of the rows of `source` (LOG or HITS)
    after id `after`: whole blocks from TailBlock while they still match the table (counted and
    kept otherwise), the rest counted live."""
    rows = _tail_rows(source)
    newest = rows.order_by("-id").values_list("id", flat=True).first()
    total: Groups = defaultdict(int)
    if newest is None or newest <= after:
        return total

    def live(low: int, high: int) -> None:
        if high > low:
            for key, n in _grouped(source, rows.filter(id__gt=low, id__lte=high)).items():
                total[key] += n

    first = -(-after // TAIL_BLOCK)  # the first block that starts after `after`
    last = newest // TAIL_BLOCK  # blocks before it are whole
    live(after, min(first * TAIL_BLOCK, newest))
    if first < last:
        checks = _block_checks(source, first, last)
        kept = {
            block.block: block
            for block in TailBlock.objects.filter(source=source, block__gte=first, block__lt=last)
        }
        # The kept blocks up to the first that changed; from there on, all counted again in
        # one query grouped by block.
        recount = first
        while recount < last:
            block = kept.get(recount)
            if block is None or (block.rows, block.machine) != checks.get(recount, (0, 0)):
                break
            for key, n in _decode(source, block.groups).items():
                total[key] += n
            recount += 1
        if recount < last:
            low, high = recount * TAIL_BLOCK, last * TAIL_BLOCK
            by_block: dict[int, Groups] = defaultdict(dict)
            for (number, *key), n in _grouped(
                source, rows.filter(id__gt=low, id__lte=high), True
            ).items():
                by_block[number][tuple(key)] = n
                total[tuple(key)] += n
            fresh = [
                TailBlock(
                    source=source,
                    block=number,
                    rows=checks.get(number, (0, 0))[0],
                    machine=checks.get(number, (0, 0))[1],
                    groups=_encode(by_block.get(number, {})),
                )
                for number in range(recount, last)
            ]
            TailBlock.objects.bulk_create(
                fresh,
                batch_size=500,
                update_conflicts=True,
                unique_fields=["source", "block"],
                update_fields=["rows", "machine", "groups"],
            )
    live(max(first, last) * TAIL_BLOCK, newest)
    return total


def count_tail() -> None:
    """Count and keep the whole blocks of both unfolded tails that are not kept yet, so that
    pages reuse them: run after each fold and after each batch of buffered hits is recorded
    (tracking.tasks.record_tracking_hits), so a page view during a burst counts at most the
    last partial block live."""
    marks = watermarks()
    for source in (LOG, HITS):
        tail_groups(source, marks[source])
