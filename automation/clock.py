"""The one place the engine reads the time from: tests move it forward (automation.clock.now)."""

import datetime
import zoneinfo

from django.conf import settings
from django.utils import timezone


def now() -> datetime.datetime:
    return timezone.now()


def local_zone() -> zoneinfo.ZoneInfo:
    """The installation's time zone (TIME_ZONE): where "at 9" and "on Monday" are read."""
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)
