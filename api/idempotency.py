"""Idempotency-Key: the same key and body within API_IDEMPOTENCY_HOURS get the first answer,
and the work is done once.

Every request with an unsafe method (POST, PUT, PATCH, DELETE) may carry the header. The first
request stores a row (owner, key, hash of method, path and body) in its own committed
statement, then does its work and stores its answer in ONE transaction that holds the row
locked (SELECT … FOR UPDATE; SQLite's write lock): a second request with the same key waits
on that lock, then finds the answer and replays it (`Idempotent-Replayed: true`). If the first
request dies, its transaction rolls back, work and answer together, and the next retry does
the work. The same key with another method, path or body is refused (422
idempotency_key_reused). Answers 5xx are not kept (nothing was done: the retry works again).
"""

import hashlib
import json
import random
import re
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.request import Request

from api.models import ApiKey, IdempotentRequest
from api.problems import Problem

HEADER = "Idempotency-Key"
KEEP_FOR = timedelta(hours=24)
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")
KEPT_HEADERS = ("Location", "Retry-After")
REPLAYED = "Idempotent-Replayed"
# Answers older than KEEP_FOR are deleted by one request in this many (an indexed DELETE).
PURGE_CHANCE = 0.01


def key_of(request: Request) -> str:
    """The request's Idempotency-Key ('' without one); raises Problem for a malformed key."""
    if request.method not in UNSAFE:
        return ""
    key = request.headers.get(HEADER)
    if key is None:
        return ""
    if not VALID_KEY.fullmatch(key):
        raise Problem("invalid_idempotency_key")
    return key


def owner_of(request: Request) -> str:
    if isinstance(request.auth, ApiKey):
        return f"key:{request.auth.pk}"
    return f"user:{request.user.pk}"


def request_hash(request: Request) -> str:
    """SHA-256 of the method, the path with its query, and the body as parsed (JSON keys in a
    fixed order; files by their bytes), so the same call hashes the same however it is sent."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.get_full_path()}\n".encode())
    data = request.data
    files = getattr(request, "FILES", {})
    if hasattr(data, "lists"):
        fields = sorted((name, values) for name, values in data.lists() if name not in files)
        digest.update(json.dumps(fields).encode())
        for name in sorted(files):
            for upload in files.getlist(name):
                digest.update(f"\nfile {name} {upload.name} {upload.size}\n".encode())
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
    else:
        digest.update(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def begin(request: Request, key: str) -> IdempotentRequest:
    """The row of (owner, key): made now, or the one a request with this key made before.
    Raises Problem idempotency_key_reused when that one was another request."""
    owner, hashed = owner_of(request), request_hash(request)
    cutoff = timezone.now() - KEEP_FOR
    if random.random() < PURGE_CHANCE:
        IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()
    for _attempt in range(3):
        found = IdempotentRequest.objects.filter(owner=owner, key=key).first()
        if found is not None and found.created_at < cutoff:
            IdempotentRequest.objects.filter(pk=found.pk, created_at=found.created_at).delete()
            found = None  # kept past 24 hours: the key is new again
        if found is None:
            try:
                with transaction.atomic():
                    return IdempotentRequest.objects.create(
                        owner=owner,
                        key=key,
                        request_hash=hashed,
                        method=request.method,
                        path=request.get_full_path()[:2000],
                    )
            except IntegrityError:
                continue  # a request with the same key made it meanwhile: read theirs
        if found.request_hash != hashed:
            raise Problem(
                "idempotency_key_reused",
                f"The Idempotency-Key was used for {found.method} {found.path} with another "
                "body within 24 hours; use a new key for a new request.",
            )
        return found
    raise Problem("idempotency_in_progress")


def lock(row: IdempotentRequest) -> IdempotentRequest:
    """The row again, locked until the current transaction ends (waits for a request with the
    same key that holds it)."""
    return IdempotentRequest.objects.select_for_update().get(pk=row.pk)


def finish(row: IdempotentRequest, response: HttpResponse) -> None:
    """Keep the rendered answer (not a 5xx) on the row, in the caller's transaction."""
    if response.status_code >= 500:
        return
    row.status = response.status_code
    row.content_type = response.get("Content-Type", "")[:100]
    row.headers = {name: response[name] for name in KEPT_HEADERS if name in response}
    row.body = bytes(response.content)
    row.save(update_fields=["status", "content_type", "headers", "body"])


def replay(row: IdempotentRequest) -> HttpResponse:
    """The first answer again."""
    response = HttpResponse(bytes(row.body), status=row.status, content_type=row.content_type)
    for name, value in row.headers.items():
        response[name] = value
    response[REPLAYED] = "true"
    return response
