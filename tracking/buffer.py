"""A Redis list that buffers opens and clicks, recorded into the database in batches.

With settings.TRACKING_BUFFER_URL set, the pixel and the click view do not write to the
database, nor wait for Redis: they check the signed token, append one compact record to their
process's outbox and answer. A thread of each web process moves the outbox to the Redis list in
one RPUSH within TRACKING_BUFFER_FLUSH_MS of the first hit (50 ms by default; 0 pushes in the
request), so Redis sees a command per batch, not per hit. A web process killed without warning
loses the hits of that last moment, as a database crash loses the last commits made without
waiting for the disk; a graceful stop flushes the outbox at exit. If Redis refuses a flush, its
hits are recorded in the database at once.

`drain` writes the Redis list in batches (tracking.recording.record_batch: set-based inserts,
the machine-traffic verdicts of tracking.classification computed for the batch). It runs, one
drainer at a time under a Redis lock:

- in a Celery worker, as the task record_tracking_hits, which the flush that finds
  TRACKING_BUFFER_SIZE records buffered, or whose process has not asked for a drain for
  TRACKING_BUFFER_SECONDS, enqueues (at most one enqueued drain per SCHEDULE_SECONDS across all
  processes): web workers never do the database work, so a visitor never waits behind a batch;
- every minute from the beat entry "Record Tracking Hits", and from `manage.py
  record_tracking_hits`, so nothing stays buffered when traffic stops.

So the campaign log and statistics lag behind the hits by about a second under traffic, by up to
a minute when it stops (the log's action date is when the batch was written; the hit's `at` is
when the request came). A batch is first moved to a processing list, written in one transaction,
then deleted: a drainer that dies before its commit loses nothing (the next one writes the
processing list first); one that dies between its commit and the delete makes the batch written
twice (log records stay unique, the hits of that batch are doubled).
"""

import atexit
import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from kombu import exceptions as kombu_errors

from crm.celery import run_task
from tracking import recording
from tracking.recording import Visit

logger = logging.getLogger(__name__)

# The keys' prefix is a setting so that two installations (or test runs) can share one Redis.
HITS = getattr(settings, "TRACKING_BUFFER_KEY_PREFIX", "massmail:tracking") + ":hits"
PROCESSING = HITS + ":processing"
LOCK = HITS + ":lock"
SCHEDULED = HITS + ":drain-scheduled"
LOCK_SECONDS = 60
SCHEDULE_SECONDS = 1
BATCH_ITEMS = 2000  # a batch is moved in one Lua call; Lua unpacks at most ~8000 values
OUTBOX_LIMIT = 100_000  # hits kept in memory while neither Redis nor the database takes them
_outbox: deque[bytes] = deque()  # this process's hits not yet in Redis; appends need no lock
_flushing = threading.Lock()  # one flush at a time per process
_wake = threading.Event()  # set by a push, for the flusher thread
_flusher_pid = [0]  # the process whose flusher thread runs; 0 until a push starts it
_tried = [time.monotonic()]  # when this process last enqueued a drain

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
    """Buffer one hit: into this process's outbox, which reaches Redis within
    TRACKING_BUFFER_FLUSH_MS (flush(); at once when that is 0). Never raises."""
    _outbox.append(encode(kind, item_id, url_id, visit))
    if not settings.TRACKING_BUFFER_FLUSH_MS:
        flush()
        return
    if not _flusher_pid[0]:
        _start_flusher()
    _wake.set()


def flush() -> int:
    """Move this process's outbox to Redis in one RPUSH, and enqueue a drain if one is due;
    how many hits it moved.

    A batch is due when TRACKING_BUFFER_SIZE hits are buffered, or when this process has not
    asked for a drain for TRACKING_BUFFER_SECONDS. If Redis cannot take the hits, they are
    recorded in the database at once; if that fails too, they stay in the outbox for the next
    flush. Both failures are logged; neither raises."""
    with _flushing:
        batch = [_outbox.popleft() for _ in range(len(_outbox))]
        if not batch:
            return 0
        try:
            length = client().rpush(HITS, *batch)
        except redis.RedisError:
            logger.exception("could not buffer %s tracking hits; recording them now", len(batch))
            _record_now(batch)
            return len(batch)
        now = time.monotonic()
        due = (
            length >= settings.TRACKING_BUFFER_SIZE
            or now - _tried[0] >= settings.TRACKING_BUFFER_SECONDS
        )
        if due:
            _tried[0] = now
    if due:
        _enqueue_drain()  # outside the lock: an eager (test) drain flushes again
    return len(batch)


def _record_now(batch: list[bytes]) -> None:
    """Record hits Redis would not take; put them back in the outbox if the database fails."""
    try:
        recording.record_batch(_decoded(batch))
    except DatabaseError:
        logger.exception("could not record %s tracking hits; keeping them", len(batch))
        if len(_outbox) + len(batch) <= OUTBOX_LIMIT:
            _outbox.extendleft(reversed(batch))
        else:
            logger.error("tracking outbox full: dropped %s hits", len(batch))


def _enqueue_drain() -> bool:
    """Enqueue the task record_tracking_hits, at most once per SCHEDULE_SECONDS across all
    processes; whether it did. A failure is logged: the hits stay buffered for the next drain."""
    try:
        if not client().set(SCHEDULED, 1, nx=True, ex=SCHEDULE_SECONDS):
            return False  # another process enqueued one within the last second
        run_task("tracking.tasks.record_tracking_hits")
    except (redis.RedisError, OSError, kombu_errors.OperationalError):
        logger.exception("could not enqueue recording of buffered tracking hits")
        return False
    return True


def _start_flusher() -> None:
    with _flushing:
        if _flusher_pid[0] == os.getpid():
            return  # another thread started it meanwhile
        _flusher_pid[0] = os.getpid()
        threading.Thread(target=_flush_forever, name="tracking-outbox", daemon=True).start()
        atexit.register(flush)  # a graceful stop (gunicorn's SIGTERM) loses nothing


def _after_fork_in_child() -> None:
    """A forked child starts with no flusher thread; the parent's outbox is the parent's to
    send, and a lock the parent's flusher held at the fork would never be released here."""
    global _flushing
    _flushing = threading.Lock()
    _outbox.clear()
    _flusher_pid[0] = 0


os.register_at_fork(after_in_child=_after_fork_in_child)


def _flush_forever() -> None:
    """The flusher thread: after a push wakes it, wait TRACKING_BUFFER_FLUSH_MS for more hits,
    then flush."""
    while True:
        _wake.clear()
        if not _outbox:
            _wake.wait()
        time.sleep(settings.TRACKING_BUFFER_FLUSH_MS / 1000)
        # Like a request: a database connection opened by _record_now is closed when stale.
        close_old_connections()
        try:
            flush()
        except Exception:  # noqa: BLE001 (the thread must outlive any one failure)
            logger.exception("tracking outbox flush failed; retrying")
        close_old_connections()


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
    """Record up to `max_items` buffered hits (first this process's outbox is flushed, and any
    batch a dead drainer left is recorded); how many.

    Returns 0 at once when another process is draining, unless `wait`: then it waits for it
    (BufferBusy after LOCK_SECONDS). Raises DatabaseError (the batch stays in the processing
    list, written by the next drain) or redis.RedisError."""
    flush()
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
    """How many hits are buffered, not yet recorded (including a batch being written); this
    process's outbox is flushed first."""
    flush()
    connection = client()
    return connection.llen(HITS) + connection.llen(PROCESSING)
