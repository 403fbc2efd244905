"""A token bucket per API key, shared by every web process: Redis when configured, else the
database.

Each key may make API_RATE_PER_MINUTE requests a minute (or its own `rate_per_minute`): its
bucket holds that many tokens, refilled evenly (10 a second for 600), and each request takes
one, so a burst of a whole minute's worth is allowed after a quiet minute. An empty bucket
answers 429 with Retry-After (seconds until a token is back); every answer carries
RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds until the bucket is full).

With API_REDIS_URL (by default the Celery broker when it is Redis) one Lua script per request
refills and takes a token atomically, on Redis's own clock. Without it, or if Redis cannot be
reached, the bucket is a row locked for the update (SELECT … FOR UPDATE; SQLite's write lock).
"""

import logging
import math
import time
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from api.models import ApiKey, RateBucket

logger = logging.getLogger(__name__)

# KEYS[1]: the bucket; ARGV: capacity, tokens per second. Returns {allowed, tokens left}.
TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(stored[1])
local at = tonumber(stored[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return {allowed, tostring(tokens)}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    tokens: float  # left after this request
    rate: float  # tokens per second

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.tokens))

    @property
    def retry_after(self) -> int:
        """Seconds until one token is back (0 when one is there)."""
        return 0 if self.tokens >= 1 else max(1, math.ceil((1 - self.tokens) / self.rate))

    @property
    def reset(self) -> int:
        """Seconds until the bucket is full again."""
        return max(0, math.ceil((self.limit - self.tokens) / self.rate))

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": f"{self.limit};w=60",
        }


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _take_redis(name: str, capacity: int, rate: float) -> tuple[bool, float]:
    client = _redis(settings.API_REDIS_URL)
    key = f"{settings.API_REDIS_KEY_PREFIX}:rate:{name}"
    allowed, tokens = client.eval(TAKE, 1, key, capacity, rate)
    return bool(allowed), float(tokens)


def _take_database(name: str, capacity: int, rate: float) -> tuple[bool, float]:
    for _attempt in range(3):
        try:
            with transaction.atomic():
                row = RateBucket.objects.select_for_update().filter(name=name).first()
                now = time.time()
                if row is None:
                    row = RateBucket.objects.create(name=name, tokens=capacity, at=now)
                tokens = min(capacity, row.tokens + max(0.0, now - row.at) * rate)
                allowed = tokens >= 1
                row.tokens, row.at = tokens - allowed, now
                row.save(update_fields=["tokens", "at"])
                return allowed, row.tokens
        except IntegrityError:
            continue  # another process created the bucket first: lock theirs
    raise RuntimeError(f"rate bucket {name} could not be created")


def take(name: str, per_minute: int) -> Decision:
    """Take one token from bucket `name` (capacity `per_minute`)."""
    capacity, rate = max(1, per_minute), max(1, per_minute) / 60
    if settings.API_REDIS_URL:
        try:
            allowed, tokens = _take_redis(name, capacity, rate)
            return Decision(allowed, capacity, tokens, rate)
        except redis.RedisError:
            logger.warning("API rate limit: Redis unavailable, counting in the database")
    allowed, tokens = _take_database(name, capacity, rate)
    return Decision(allowed, capacity, tokens, rate)


def bucket_of(request: Request) -> tuple[str, int] | None:
    """(bucket name, capacity) for the caller: per key, or per staff user; None: no limit
    (an anonymous request is refused before it costs anything)."""
    if isinstance(request.auth, ApiKey):
        return (
            f"key:{request.auth.prefix}",
            request.auth.rate_per_minute or settings.API_RATE_PER_MINUTE,
        )
    user = request.user
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}", settings.API_RATE_PER_MINUTE
    return None


class KeyRateThrottle(BaseThrottle):
    """DRF throttle over `take`; the decision is kept on the request for the headers."""

    def allow_request(self, request: Request, view) -> bool:
        bucket = bucket_of(request)
        if bucket is None:
            return True
        decision = take(*bucket)
        request._request.api_rate = decision
        self.decision = decision
        return decision.allowed

    def wait(self) -> float | None:
        return self.decision.retry_after
