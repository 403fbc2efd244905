"""Template context shared by every page."""

from django.conf import settings
from django.http import HttpRequest


def development(request: HttpRequest) -> dict:
    """`captured_mail_enabled`: the captured-mail pages exist (DEBUG only)."""
    return {"captured_mail_enabled": settings.DEBUG}
