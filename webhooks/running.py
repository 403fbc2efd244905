"""The delivery loop the beat entry "Deliver Webhooks" runs every minute (and `manage.py
deliver_webhooks`): fan the new events out and deliver what is due, again and again until
its time is up, so events go out within about a second; several runs at once share the work."""

import time
from datetime import timedelta

from crm import events
from webhooks import delivery, fanout

EVENTS_KEPT = timedelta(days=7)  # and only once every consumer has read them

IDLE_SECONDS = 0.5


def run(seconds: float = 55.0) -> tuple[int, int]:
    """Fan out and deliver until `seconds` have passed (0: one round); (events, deliveries)."""
    deadline = time.monotonic() + seconds
    taken = sent = 0
    while True:
        new, done = fanout.fan_out(), delivery.deliver_due()
        taken, sent = taken + new, sent + done
        if time.monotonic() >= deadline:
            return taken, sent
        if not new and not done:
            time.sleep(IDLE_SECONDS)


def run_and_purge(seconds: float = 55.0) -> str:
    """run(), then the 30-day purge of attempts and finished deliveries; what it did. (Every
    minute, like "Record Tracking Hits": not in the job log.)"""
    taken, sent = run(seconds)
    purged = delivery.purge() + events.purge(EVENTS_KEPT)
    return f"{taken} events taken, {sent} deliveries attempted, {purged} old rows purged"
