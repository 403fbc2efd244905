"""A sending source's messages-per-second limit, shared by every worker on every machine.

Each message takes a slot before its envelope goes out. Slots are handed out one `interval` apart
by one shared clock (GCRA, the "virtual scheduling" form of a leaky bucket): Redis's own clock
when the broker is Redis, else PostgreSQL's; on SQLite, which runs one worker, this process's.
The interval is 1/rate stretched by MARGIN, so that jitter between taking a slot and the message
reaching the server (thread scheduling, the network) of up to MARGIN/rate seconds can never put
more than `rate` messages into one second at the server.
"""

import threading
import time
from decimal import Decimal

import redis
from django.conf import settings
from django.db import connections

from crm.models import EmailAccount, OutboundEmailSettings

MARGIN = 0.10
# How often a slot woken too late is exchanged for a later one before the message goes anyway.
LATE_RETRIES = 3
# A slot key not touched for this long is forgotten (Redis) or may be reused as new.
KEY_SECONDS = 3600
# Redis: GCRA under Redis's clock. ARGV: interval (s), "1" to wait for a slot else take it only
# if free now. Returns the wait in seconds before the slot, or "-1" when not free now.
SLOT_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local interval = tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
if ARGV[2] ~= '1' and slot > now then return '-1' end
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval), 'EX', tonumber(ARGV[3]))
return string.format('%.6f', slot - now)
"""


def source_key(source: OutboundEmailSettings | EmailAccount) -> str:
    """The name every worker uses for this source's slots."""
    if isinstance(source, EmailAccount):
        return f"account:{source.pk}"
    return "system"


class NoLimit:
    """A source without a messages-per-second limit."""

    def take(self, block: bool = True) -> bool:
        return True


class RateLimit:
    """Slots of one source, `interval` seconds apart across all workers."""

    def __init__(self, key: str, per_second: Decimal | float, slots):
        self.key = key
        self.interval = (1 + MARGIN) / float(per_second)
        self.slots = slots

    def take(self, block: bool = True) -> bool:
        """Take the next slot and sleep until it comes; with block=False only a slot that is
        free now, else False at once.

        A process woken more than half an interval after its slot (the machine was busy) lets
        that slot go and takes a later one, a few times at most: the messages of the slots
        after it may be on their way already, and two at once would crowd one second."""
        for _retry in range(LATE_RETRIES):
            wait = self.slots.reserve(self.key, self.interval, block)
            if wait is None:
                return False
            due = time.monotonic() + wait
            if wait > 0:
                time.sleep(wait)
            if time.monotonic() - due <= self.interval / 2:
                return True
            block = True
        return True


def limit_for(source: OutboundEmailSettings | EmailAccount) -> NoLimit | RateLimit:
    """The limiter of `source`: none unless its messages per second is set."""
    per_second = getattr(source, "messages_per_second", None)
    if not per_second:
        return NoLimit()
    return RateLimit(source_key(source), per_second, shared_slots())


class RedisSlots:
    def __init__(self, url: str, prefix: str):
        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self.script = self.client.register_script(SLOT_SCRIPT)

    def reserve(self, key: str, interval: float, block: bool) -> float | None:
        arguments = [interval, int(block), KEY_SECONDS]
        wait = float(self.script(keys=[self.prefix + key], args=arguments))
        return None if wait < 0 else wait


class LocalSlots:
    """Slots kept in this process (SQLite runs one worker: no one else sends)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def reserve(self, key: str, interval: float, block: bool) -> float | None:
        with self._lock:
            now = time.monotonic()
            slot = max(self._next.get(key, 0.0), now)
            if not block and slot > now:
                return None
            self._next[key] = slot + interval
            return slot - now


class DatabaseSlots:
    """Slots in the campaigns_sendingslot table under PostgreSQL's clock, over one connection of
    its own that the sessions of this process share under a lock (N threads, one connection)."""

    def __init__(self, alias: str = "default"):
        self._lock = threading.Lock()
        self._alias = alias
        self._connection = None

    def reserve(self, key: str, interval: float, block: bool) -> float | None:
        with self._lock:
            connection = self._connected()
            with connection.cursor() as cursor:
                cursor.execute(*_slot_sql(key, interval, block))
                row = cursor.fetchone()
        if row is None:
            return None
        slot, now = row
        return max(0.0, float(slot) - float(now))

    def _connected(self):
        if self._connection is None:
            self._connection = connections.create_connection(self._alias)
            self._connection.inc_thread_sharing()  # used by many threads, one at a time
        return self._connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def _slot_sql(key: str, interval: float, block: bool) -> tuple[str, list]:
    # One statement, autocommit: the row's lock is held for no longer than it.
    clock = "extract(epoch from clock_timestamp())"
    free_only = "" if block else f" WHERE campaigns_sendingslot.next_slot <= {clock}"
    sql = (
        f"INSERT INTO campaigns_sendingslot (source, next_slot) VALUES (%s, {clock} + %s) "
        f"ON CONFLICT (source) DO UPDATE SET next_slot = "
        f"GREATEST(campaigns_sendingslot.next_slot, {clock}) + %s{free_only} "
        f"RETURNING next_slot - %s, {clock}"
    )
    return sql, [key, interval, interval, interval]


_slots: dict[str, RedisSlots | DatabaseSlots | LocalSlots] = {}
_slots_lock = threading.Lock()


def shared_slots() -> RedisSlots | DatabaseSlots | LocalSlots:
    """Redis when the broker is Redis (one clock for every machine), else PostgreSQL, else (one
    worker on SQLite) this process."""
    url = settings.SENDING_RATE_REDIS_URL
    with _slots_lock:
        if url not in _slots:
            if url:
                _slots[url] = RedisSlots(url, settings.SENDING_RATE_KEY_PREFIX)
            elif connections["default"].vendor == "postgresql":
                _slots[url] = DatabaseSlots()
            else:
                _slots[url] = LocalSlots()
        return _slots[url]
