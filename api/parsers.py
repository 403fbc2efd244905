"""Request bodies: JSON up to API_MAX_BODY_MEGABYTES, without NUL characters.

No text column can hold NUL (PostgreSQL refuses it), so a body carrying one is refused as a
whole (400 nul_character) before anything is looked up; a body over the limit is refused
(413 body_too_large) before it is read; a body that is not JSON, or holds NaN or Infinity, is
400 malformed_body.
"""

import json

from django.conf import settings
from rest_framework.parsers import JSONParser, MultiPartParser

from api.problems import Problem

MEGABYTE = 1024 * 1024


def body_limit() -> int:
    return settings.API_MAX_BODY_MEGABYTES * MEGABYTE


def check_length(request, limit: int) -> None:
    """Raise body_too_large when the request says its body is over `limit` bytes."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise Problem(
            "body_too_large",
            f"The body has {length:,} bytes; at most {limit:,} are accepted.",
        )


def holds_nul(value) -> bool:
    """Whether any text in `value` (keys included) holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(inner) for key, inner in value.items())
    if isinstance(value, list):
        return any(holds_nul(inner) for inner in value)
    return False


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


class JsonParser(JSONParser):
    """application/json, with the limits of this module."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"]
        limit = body_limit()
        check_length(request, limit)
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise Problem("body_too_large", f"The body is over {limit:,} bytes.")
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise Problem("malformed_body", f"The body is not valid JSON: {exc}") from exc
        if b"\\u0000" in raw and holds_nul(data):
            raise Problem("nul_character", "A text of the body holds a NUL character.")
        return data


class UploadParser(MultiPartParser):
    """multipart/form-data (CSV uploads), the file up to API_MAX_UPLOAD_MEGABYTES."""

    def parse(self, stream, media_type=None, parser_context=None):
        check_length(parser_context["request"], settings.API_MAX_UPLOAD_MEGABYTES * MEGABYTE)
        parsed = super().parse(stream, media_type, parser_context)
        for name, values in parsed.data.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                raise Problem("nul_character", f"The field “{name}” holds a NUL character.")
        return parsed
