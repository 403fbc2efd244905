"""Cursor pagination for every list: pages of `limit` rows in a fixed order, and an opaque
`next_cursor` that starts the next page after the last row seen (keyset: `WHERE (a, id) >
(…)`, one index range per page, however deep the client reads; rows added or removed meanwhile
never shift a page).

A view orders by `cursor_ordering` (default `("id",)`, ascending; e.g. `("updated_at", "id")`
for a sync by `updated_since`). A stream view (`cursor_stream = True`, the events) always gives
a `next_cursor`, also on its last page, so a client can keep it and ask again later for what is
new. Answer: `{"results": [...], "next_cursor": "…" | null, "next": "<URL>" | null}`.
"""

import base64
import json
from datetime import datetime

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from api.problems import Problem

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def parse_limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise Problem("invalid_parameter", f"limit must be a whole number from 1 to {MAX_LIMIT}.")
    return int(raw)


def _pack(value):
    return {"dt": value.isoformat()} if isinstance(value, datetime) else value


def _unpack(value):
    if isinstance(value, dict) and isinstance(value.get("dt"), str):
        return datetime.fromisoformat(value["dt"])
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError("not a cursor value")


def encode(ordering: tuple[str, ...], values: list) -> str:
    document = {"o": list(ordering), "v": [_pack(value) for value in values]}
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def decode(ordering: tuple[str, ...], cursor: str) -> list:
    """The values of a cursor made for `ordering`; raises Problem invalid_cursor."""
    try:
        if len(cursor) > 500 or not cursor.isascii():
            raise ValueError("too long")
        document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if document["o"] != list(ordering) or len(document["v"]) != len(ordering):
            raise ValueError("made for another list")
        return [_unpack(value) for value in document["v"]]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise Problem("invalid_cursor", "The cursor is not one this list gave out.") from exc


def after(ordering: tuple[str, ...], values: list) -> Q:
    """Rows strictly after `values` in `ordering` (all ascending)."""
    condition = Q()
    for index in reversed(range(len(ordering))):
        equal = {ordering[i]: values[i] for i in range(index)}
        step = Q(**equal, **{f"{ordering[index]}__gt": values[index]})
        condition = step if index == len(ordering) - 1 else step | (Q(**equal) & condition)
    return condition


class CursorPagination(BasePagination):
    """Keyset pages; see the module."""

    def paginate_queryset(self, queryset: QuerySet, request: Request, view=None) -> list:
        self.request = request
        self.ordering = tuple(getattr(view, "cursor_ordering", ("id",)))
        self.stream = getattr(view, "cursor_stream", False)
        limit = parse_limit(request)
        cursor = request.query_params.get("cursor", "")
        self.position = decode(self.ordering, cursor) if cursor else None
        if self.position is not None:
            queryset = queryset.filter(after(self.ordering, self.position))
        rows = list(queryset.order_by(*self.ordering)[: limit + 1])
        self.has_more = len(rows) > limit
        rows = rows[:limit]
        last = [_value(rows[-1], field) for field in self.ordering] if rows else None
        if self.has_more or (self.stream and last is not None):
            self.next_cursor = encode(self.ordering, last)
        elif self.stream and cursor:
            self.next_cursor = cursor
        else:
            self.next_cursor = None
        return rows

    def get_paginated_response(self, data) -> Response:
        return Response({**self.page_fields(), "results": data})

    def page_fields(self) -> dict:
        url = None
        if self.next_cursor:
            here = self.request.build_absolute_uri()
            url = replace_query_param(here, "cursor", self.next_cursor)
        return {"next_cursor": self.next_cursor, "next": url}

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["results", "next_cursor", "next"],
            "properties": {
                "results": schema,
                "next_cursor": {
                    "type": "string",
                    "nullable": True,
                    "description": "Pass as `cursor` for the next page; null on the last page.",
                },
                "next": {"type": "string", "format": "uri", "nullable": True},
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "The `next_cursor` of the previous page.",
                "schema": {"type": "string", "maxLength": 500},
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Rows per page (1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            },
        ]


def schema_parameters() -> list[OpenApiParameter]:
    """`cursor` and `limit`, for views that page by hand (extend_schema(parameters=…))."""
    return [
        OpenApiParameter(
            item["name"], item["schema"], OpenApiParameter.QUERY, description=item["description"]
        )
        for item in CursorPagination().get_schema_operation_parameters(None)
    ]


def _value(row, field: str):
    return row[field] if isinstance(row, dict) else getattr(row, field)
