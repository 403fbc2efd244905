"""The per-key token bucket, in the database (no Redis) and in Redis (with CELERY_BROKER_URL=
redis://…, as CI runs it), shared by every process that asks."""

import os
import threading

import pytest
import redis
from django.db import connection

from api import rate_limit
from tests.api.conftest import ApiClient, problem_of

pytestmark = pytest.mark.django_db
REDIS_URL = os.environ.get("CELERY_BROKER_URL", "")
needs_redis = pytest.mark.skipif(
    not REDIS_URL.startswith("redis://"),
    reason="needs a Redis: run with CELERY_BROKER_URL=redis://… (CI does)",
)


@pytest.fixture(params=["database", pytest.param("redis", marks=needs_redis)])
def store(request, settings):
    settings.API_REDIS_URL = REDIS_URL if request.param == "redis" else ""
    return request.param


def test_it_answers_429_with_retry_after_once_the_bucket_is_empty(store, make_key, settings):
    settings.API_RATE_PER_MINUTE = 3
    api = ApiClient(make_key())

    answers = [api.get("/api/v1/key/") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[0]["RateLimit-Limit"] == "3"
    assert problem_of(answers[3])["code"] == "rate_limited"
    assert int(answers[3]["Retry-After"]) == 20  # 3 a minute: a token every 20 s


def test_each_key_has_its_own_bucket(store, make_key, settings):
    settings.API_RATE_PER_MINUTE = 1
    first, second = ApiClient(make_key()), ApiClient(make_key())

    assert first.get("/api/v1/key/").status_code == 200
    assert first.get("/api/v1/key/").status_code == 429
    assert second.get("/api/v1/key/").status_code == 200


def test_a_key_may_have_its_own_rate(store, make_key, settings):
    settings.API_RATE_PER_MINUTE = 1
    api = ApiClient(make_key(rate_per_minute=5))

    statuses = [api.get("/api/v1/key/").status_code for _ in range(6)]

    assert statuses == [200] * 5 + [429]


def test_the_bucket_refills_with_time(store):
    name = f"refill-{store}-{os.getpid()}"
    for _ in range(60):
        assert rate_limit.take(name, 60).allowed
    empty = rate_limit.take(name, 60)

    assert not empty.allowed
    assert empty.retry_after == 1


@pytest.mark.django_db(transaction=True)
@needs_redis
def test_processes_at_once_never_take_more_than_the_bucket_holds(settings):
    settings.API_REDIS_URL = REDIS_URL
    name = f"race-{os.getpid()}"
    allowed = []

    def spend():
        for _ in range(25):
            allowed.append(rate_limit.take(name, 50).allowed)
        connection.close()

    threads = [threading.Thread(target=spend) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(allowed) in (50, 51)  # 50, plus at most one refilled during the run


def test_it_counts_in_the_database_when_redis_cannot_be_reached(make_key, settings):
    settings.API_REDIS_URL = "redis://127.0.0.1:1/0"
    settings.API_RATE_PER_MINUTE = 2
    api = ApiClient(make_key())

    statuses = [api.get("/api/v1/key/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_anonymous_calls_cost_no_token(anonymous_api, settings):
    settings.API_RATE_PER_MINUTE = 1

    statuses = [anonymous_api.get("/api/v1/key/").status_code for _ in range(3)]

    assert statuses == [401, 401, 401]


@needs_redis
def test_redis_keys_carry_the_test_runs_prefix(settings, make_key):
    settings.API_REDIS_URL = REDIS_URL
    ApiClient(make_key()).get("/api/v1/key/")

    found = list(redis.Redis.from_url(REDIS_URL).scan_iter(f"{settings.API_REDIS_KEY_PREFIX}:*"))

    assert found
