"""`manage.py record_tracking_hits`: record every open and click left in the Redis buffer.

Web requests record buffered hits in batches while traffic flows, and the beat entry "Record
Tracking Hits" does what this command does every minute; run it from cron instead of beat, or
before counting rows. With TRACKING_BUFFER_URL empty there is no buffer and nothing to do.
"""

import redis
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from tracking import buffer


class Command(BaseCommand):
    help = "Record the opens and clicks buffered in Redis into the database."

    def handle(self, *args, **options) -> None:
        if not buffer.enabled():
            self.stdout.write("TRACKING_BUFFER_URL is empty: hits are recorded as they come.")
            return
        try:
            done = buffer.drain_all()
        except (buffer.BufferBusy, redis.RedisError, DatabaseError) as exc:
            raise CommandError(f"could not record the buffered hits: {exc}") from exc
        self.stdout.write(f"recorded {done} buffered hits")
