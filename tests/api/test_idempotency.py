"""Idempotency-Key: the same call twice does the work once and gets the first answer."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from api.models import IdempotentRequest
from targetlists.models import TargetList
from tests.api.conftest import ApiClient, problem_of

pytestmark = pytest.mark.django_db
KEY = {"Idempotency-Key": "7d0c8a4e-create-customers"}


def test_the_same_call_again_gets_the_first_answer_and_does_nothing(admin_api):
    first = admin_api.post("/api/v1/target-lists/", {"name": "Customers"}, KEY)
    again = admin_api.post("/api/v1/target-lists/", {"name": "Customers"}, KEY)

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert TargetList.objects.count() == 1


def test_the_same_json_written_otherwise_is_the_same_call(admin_api):
    admin_api.send(
        "POST", "/api/v1/target-lists/", raw='{"name": "A", "description": "d"}', headers=KEY
    )
    again = admin_api.send(
        "POST", "/api/v1/target-lists/", raw='{"description":"d","name":"A"}', headers=KEY
    )

    assert again["Idempotent-Replayed"] == "true"
    assert TargetList.objects.count() == 1


def test_the_same_key_with_another_body_is_refused(admin_api):
    admin_api.post("/api/v1/target-lists/", {"name": "Customers"}, KEY)

    other = admin_api.post("/api/v1/target-lists/", {"name": "Prospects"}, KEY)

    assert other.status_code == 422
    assert problem_of(other)["code"] == "idempotency_key_reused"
    assert list(TargetList.objects.values_list("name", flat=True)) == ["Customers"]


def test_keys_belong_to_their_api_key(admin_api, make_key):
    other = ApiClient(make_key())

    admin_api.post("/api/v1/target-lists/", {"name": "Customers"}, KEY)
    theirs = other.post("/api/v1/target-lists/", {"name": "Customers"}, KEY)

    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert TargetList.objects.count() == 2


def test_a_refusal_is_replayed_too(admin_api):
    first = admin_api.post("/api/v1/target-lists/", {"name": ""}, KEY)
    again = admin_api.post("/api/v1/target-lists/", {"name": ""}, KEY)

    assert first.status_code == again.status_code == 422
    assert again.content == first.content


def test_after_24_hours_the_key_is_new_again(admin_api):
    admin_api.post("/api/v1/target-lists/", {"name": "Customers"}, KEY)
    IdempotentRequest.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))

    later = admin_api.post("/api/v1/target-lists/", {"name": "Customers"}, KEY)

    assert "Idempotent-Replayed" not in later
    assert TargetList.objects.count() == 2
    assert IdempotentRequest.objects.count() == 1


def test_a_call_whose_first_try_died_is_done_by_the_retry(admin_api):
    first = admin_api.post("/api/v1/target-lists/", {"name": "Customers"}, KEY)
    # As a process killed mid-work leaves it: the row stored, the work and answer rolled back.
    TargetList.objects.all().delete()
    IdempotentRequest.objects.update(status=None, body=b"")

    retry = admin_api.post("/api/v1/target-lists/", {"name": "Customers"}, KEY)

    assert first.status_code == retry.status_code == 201
    assert "Idempotent-Replayed" not in retry
    assert TargetList.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "é"])
def test_a_malformed_key_is_refused(admin_api, key):
    response = admin_api.post(
        "/api/v1/target-lists/", {"name": "Customers"}, {"Idempotency-Key": key}
    )

    assert response.status_code == 400
    assert problem_of(response)["code"] == "invalid_idempotency_key"
    assert not TargetList.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_identical_calls_at_once_do_the_work_once(make_key):
    key = make_key()
    answers, start = [], threading.Barrier(6)

    def call():
        start.wait()
        answers.append(ApiClient(key).post("/api/v1/target-lists/", {"name": "Race"}, KEY))
        connection.close()

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert TargetList.objects.count() == 1
    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.content for answer in answers}) == 1
    assert sum(answer.get("Idempotent-Replayed") == "true" for answer in answers) == 5
