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


def days_later(moment: datetime.datetime, days: int, zone=None) -> datetime.datetime:
    """`days` days after `moment` at the same hour on the clock of the installation's time
    zone (or `zone`): across a daylight saving change a day is 23 or 25 hours, as a marketer
    who says "a day later" means."""
    local = moment.astimezone(zone or local_zone())
    return (local + datetime.timedelta(days=days)).astimezone(datetime.UTC)
