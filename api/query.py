"""Query parameters of lists (filters), parsed strictly: a value a filter cannot take (an
empty one too) is a 400 invalid_parameter naming it, never an empty list or a 500."""

from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from api.problems import Problem

LARGEST_ID = 2**63 - 1


def _refuse(name: str, what: str):
    raise Problem("invalid_parameter", f"{name} must be {what}.")


def integer(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= LARGEST_ID:
        _refuse(name, "an id (a whole number from 1)")
    return int(raw)


def moment(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        _refuse(name, "a date and time in ISO 8601, e.g. 2026-12-01T08:00:00Z")
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_current_timezone())
    if not 1 <= value.year <= 9998:
        _refuse(name, "a date between the years 1 and 9998")
    return value


def flag(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        _refuse(name, "true or false")
    return raw == "true"


def choice(request: Request, name: str, choices) -> str | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if raw not in choices:
        _refuse(name, "one of " + ", ".join(choices))
    return raw


def text(request: Request, name: str, max_length: int = 255) -> str | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not 0 < len(raw) <= max_length:
        _refuse(name, f"1 to {max_length} characters")
    return raw


def parameter(name: str, kind, description: str) -> OpenApiParameter:
    """A query parameter for the schema (kind: "id", "text", "flag", "datetime", or a list of
    choices), as strict as its parser above."""
    schemas = {
        "id": {"type": "integer", "format": "int64", "minimum": 1, "maximum": LARGEST_ID},
        "text": {"type": "string", "minLength": 1, "maxLength": 255},
        "flag": {"type": "string", "enum": ["true", "false"]},
        "datetime": {"type": "string", "format": "date-time"},
    }
    schema = {"type": "string", "enum": list(kind)} if isinstance(kind, (list, tuple)) else None
    return OpenApiParameter(
        name,
        schema or schemas[kind],
        OpenApiParameter.QUERY,
        description=description,
    )
