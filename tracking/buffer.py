"""A Redis list that buffers opens and clicks, recorded into the database in batches.

With settings.TRACKING_BUFFER_URL set, the pixel and the click view do not write to the
database: they check the signed token, push one compact record here (one round trip to Redis)
and answer. `drain` writes the records in batches (tracking.recording.record_batch: set-based
inserts, the machine-traffic verdicts of tracking.classification computed for the batch). It
runs, one drainer at a time under a Redis lock:

- in a Celery worker, as the task record_tracking_hits, which the web request whose push finds
  TRACKING_BUFFER_SIZE records buffered, or whose process has not asked for a drain for
  TRACKING_BUFFER_SECONDS, enqueues once its response has gone out (at most one enqueued drain
  per SCHEDULE_SECONDS across all processes): web workers never do the database work, so a
  visitor never waits behind a batch;
- every minute from the beat entry "Record Tracking Hits", and from `manage.py
  record_tracking_hits`, so nothing stays buffered when traffic stops.

So the campaign log and statistics lag behind the hits by about a second under traffic, by up to
a minute when it stops (the log's action date is when the batch was written; the hit's `at` is
when the request came). A batch is first moved to a processing list, written in one transaction,
then deleted: a drainer that dies before its commit loses nothing (the next one writes the
processing list first); one that dies between its commit and the delete makes the batch written
twice (log records stay unique, the hits of that batch are doubled).
"""

import json
import logging
import secrets
import threading
import time
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.core.signals import request_finished
from kombu import exceptions as kombu_errors

from tracking import recording
from tracking.recording import Visit

logger = logging.getLogger(__name__)

HITS = "massmail:tracking:hits"
PROCESSING = HITS + ":processing"
LOCK = HITS + ":lock"
SCHEDULED = HITS + ":drain-scheduled"
LOCK_SECONDS = 60
SCHEDULE_SECONDS = 1
BATCH_ITEMS = 2000  # a batch is moved in one Lua call; Lua unpacks at most ~8000 values
_due = threading.local()  # set by a push that finds a batch due, in the request's thread
_tried = [time.monotonic()]  # when this process last set a drain due

# Moves up to ARGV[1] records from the buffer to the processing list, atomically.
MOVE = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], #items, -1)
  redis.call('RPUSH', KEYS[2], unpack(items))
end
return items
"""
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class BufferBusy(Exception):
    """Another drainer held the lock for longer than LOCK_SECONDS."""


def enabled() -> bool:
    return bool(settings.TRACKING_BUFFER_URL)


_local = threading.local()  # per thread: one Redis connection (no pool lock per push), scripts


def client() -> redis.Redis:
    """This thread's Redis client of TRACKING_BUFFER_URL."""
    url = settings.TRACKING_BUFFER_URL
    clients = _local.__dict__.setdefault("clients", {})
    if url not in clients:
        clients[url] = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=2, single_connection_client=True
        )
    return clients[url]


def _run(source: str, keys: list[str], args: list) -> list:
    """Run a Lua script by EVALSHA (redis-py loads it again if Redis forgot it)."""
    scripts = _local.__dict__.setdefault("scripts", {})
    key = (settings.TRACKING_BUFFER_URL, source)
    if key not in scripts:
        scripts[key] = client().register_script(source)
    return scripts[key](keys=keys, args=args)


def encode(kind: str, item_id: int, url_id: int | None, visit: Visit) -> bytes:
    """A compact record: [kind, item id, tracking URL id, epoch seconds, user agent, client]."""
    at = visit.at.timestamp()
    return json.dumps([kind, item_id, url_id, at, visit.user_agent, visit.client_hash]).encode()


def decode(raw: bytes) -> tuple[str, int, int | None, Visit]:
    kind, item_id, url_id, at, agent, client_hash = json.loads(raw)
    when = datetime.fromtimestamp(at, tz=UTC)
    return kind, item_id, url_id, Visit(user_agent=agent, client_hash=client_hash, at=when)


def push(kind: str, item_id: int, url_id: int | None, visit: Visit) -> None:
    """Buffer one hit (one RPUSH). If a batch is due (TRACKING_BUFFER_SIZE buffered, or this
    process has not asked for a drain for TRACKING_BUFFER_SECONDS), this thread enqueues the
    drain once its response has gone out (request_finished), or at the next drain_if_due().

    Raises redis.RedisError when the hit could not be buffered."""
    length = client().rpush(HITS, encode(kind, item_id, url_id, visit))
    now = time.monotonic()
    if (
        length >= settings.TRACKING_BUFFER_SIZE
        or now - _tried[0] >= settings.TRACKING_BUFFER_SECONDS
    ):
        _tried[0] = now
        _due.drain = True


def drain_if_due(**_signal) -> bool:
    """Enqueue a drain if a push of this thread made a batch due; whether it enqueued one.

    A failure to enqueue is logged and the hits stay buffered for the next drain."""
    if not getattr(_due, "drain", False):
        return False
    _due.drain = False
    from tracking.tasks import record_tracking_hits  # the task module imports this one

    try:
        if not client().set(SCHEDULED, 1, nx=True, ex=SCHEDULE_SECONDS):
            return False  # another process enqueued one within the last second
        record_tracking_hits.delay()
    except (redis.RedisError, OSError, kombu_errors.OperationalError):
        logger.exception("could not enqueue recording of buffered tracking hits")
        return False
    return True


request_finished.connect(drain_if_due, dispatch_uid="tracking.buffer.drain_if_due")


def _lock(connection: redis.Redis, wait: bool) -> str | None:
    token = secrets.token_hex(8)
    deadline = time.monotonic() + LOCK_SECONDS
    while not connection.set(LOCK, token, nx=True, ex=LOCK_SECONDS):
        if not wait:
            return None
        if time.monotonic() > deadline:
            raise BufferBusy(f"another drainer has held {LOCK} for {LOCK_SECONDS} s")
        time.sleep(0.05)
    return token


def _decoded(raw: list[bytes]) -> list[tuple[str, int, int | None, Visit]]:
    hits = []
    for record in raw:
        try:
            hits.append(decode(record))
        except (ValueError, TypeError):
            # One bad record must not block every batch after it: dropped, and logged.
            logger.error("dropped an unreadable buffered tracking hit: %r", record[:200])
    return hits


def _record(connection: redis.Redis, raw: list[bytes]) -> int:
    if raw:
        recording.record_batch(_decoded(raw))
        connection.delete(PROCESSING)
    return len(raw)


def drain(max_items: int = BATCH_ITEMS, wait: bool = False) -> int:
    """Record up to `max_items` buffered hits (first any batch a dead drainer left); how many.

    Returns 0 at once when another process is draining, unless `wait`: then it waits for it
    (BufferBusy after LOCK_SECONDS). Raises DatabaseError (the batch stays in the processing
    list, written by the next drain) or redis.RedisError."""
    connection = client()
    token = _lock(connection, wait)
    if token is None:
        return 0
    try:
        done = _record(connection, connection.lrange(PROCESSING, 0, -1))
        batch = _run(MOVE, [HITS, PROCESSING], [min(max_items, BATCH_ITEMS)])
        return done + _record(connection, batch)
    finally:
        _run(UNLOCK, [LOCK], [token])


def drain_all() -> int:
    """Record every buffered hit, waiting for a running drainer; returns how many it recorded."""
    if not enabled():
        return 0
    total = 0
    while done := drain(wait=True):
        total += done
    return total


def pending() -> int:
    """How many hits are buffered, not yet recorded (including a batch being written)."""
    connection = client()
    return connection.llen(HITS) + connection.llen(PROCESSING)
