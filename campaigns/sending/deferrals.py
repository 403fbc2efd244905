"""When a deferred message is tried again, and which recipient domains are deferring.

A message a server deferred (a 4xx, or the connection lost while it was in flight) waits
RETRY_FIRST (10 minutes) before its second attempt, twice as long before each next one, at most
RETRY_MAX (6 hours); `max attempts` still ends it as Failed. Claims take fresh items before
deferred ones, so a deferred item never stands in front of the rest.

Within one run, a recipient domain that defers DEFERRALS_PER_RUN messages (3) in a row, with no
message accepted in between, is left alone for the rest of the run: its other items go back to
Pending untouched (no attempt used) and wait for a later run, while other domains go on. The
other workers of the run learn it from the DomainDeferral row within a second (SHARE_EVERY), so
N workers do not each spend their own deferrals on a domain one of them found deferring. In a
row, because a large domain that accepts most messages and defers a few recipients (throttling
single mailboxes) is not deferring us; one that defers everything is. Only first attempts count:
a message deferred before and deferred again tells about its mailbox, not its domain. The mass
email page lists such domains (DomainDeferral) until the domain accepts a message again.
"""

import datetime
import threading
import time
from collections import Counter

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from campaigns.models import DomainDeferral, MassEmail

RETRY_FIRST = datetime.timedelta(seconds=getattr(settings, "MASS_EMAIL_RETRY_SECONDS", 600))
RETRY_MAX = datetime.timedelta(seconds=getattr(settings, "MASS_EMAIL_RETRY_MAX_SECONDS", 21600))
DEFERRALS_PER_RUN = getattr(settings, "MASS_EMAIL_DOMAIN_DEFERRALS_PER_RUN", 3)
# How often (seconds) a worker reads which domains the other workers of its run found deferring.
SHARE_EVERY = 1.0


def next_attempt_at(attempts: int, now: datetime.datetime) -> datetime.datetime:
    """When an item deferred for the `attempts`-th time is tried again: 10 min, 20, 40, … 6 h."""
    delay = RETRY_FIRST * 2 ** max(0, attempts - 1)
    return now + min(delay, RETRY_MAX)


def domain_of(address: str) -> str:
    """The lower-cased domain of an address ('' without one)."""
    return address.rpartition("@")[2].lower()


class DomainBackoff:
    """The recipient domains deferring messages in one run; shared by the run's SMTP threads,
    and with `run_start`, with the other workers of the run (through DomainDeferral rows)."""

    def __init__(self, limit: int = DEFERRALS_PER_RUN, run_start: datetime.datetime | None = None):
        self.limit = limit
        self.run_start = run_start
        self._looked_at: dict[int, float] = {}  # by mass email: when the rows were last read
        self._lock = threading.Lock()
        self._deferrals: Counter[str] = Counter()  # in this run
        self._streak: Counter[str] = Counter()  # in a row, since the domain last accepted one
        self._last_error: dict[str, str] = {}
        self._accepted: set[str] = set()
        self._stored: dict[tuple[int, str], int] = {}  # deferrals already in DomainDeferral rows
        self._rows: dict[int, set[str]] = {}  # by mass email: the domains its rows name

    def waiting(self, domain: str) -> bool:
        """True if `domain` deferred enough messages in a row that the rest waits for later."""
        with self._lock:
            return self._streak[domain] >= self.limit

    def deferred(self, domain: str, error: str) -> None:
        with self._lock:
            self._deferrals[domain] += 1
            self._streak[domain] += 1
            self._last_error[domain] = error

    def accepted(self, domain: str) -> None:
        with self._lock:
            self._streak[domain] = 0
            self._accepted.add(domain)

    def remember(self, mass_email: MassEmail, now: datetime.datetime | None = None) -> None:
        """Store the domains of this run that defer `mass_email` and forget those that took a
        message again (for its page). Called after each chunk: it writes only what changed."""
        now = now or timezone.now()
        with self._lock:
            waiting = {d: self._deferrals[d] for d, n in self._streak.items() if n >= self.limit}
            accepted = self._accepted - set(waiting)
            errors = dict(self._last_error)
        listed = self._listed(mass_email)
        deferrals = DomainDeferral.objects.filter(mass_email=mass_email)
        if gone := accepted & listed:
            forgotten = deferrals.filter(domain__in=gone)
            if self.run_start is not None:
                # A row another worker of this run wrote says the domain defers this run: it
                # stays for the others to learn, until a later run sees the domain accept.
                forgotten = forgotten.filter(last_deferred_at__lt=self.run_start)
            forgotten.delete()
            listed -= gone
        for domain, count in waiting.items():
            new = count - self._stored.get((mass_email.pk, domain), 0)
            if not new:
                continue
            self._stored[(mass_email.pk, domain)] = count
            row, created = DomainDeferral.objects.get_or_create(
                mass_email=mass_email,
                domain=domain,
                defaults={
                    "since": now,
                    "last_deferred_at": now,
                    "deferrals": new,
                    "last_error": errors[domain],
                },
            )
            listed.add(domain)
            if not created:
                deferrals.filter(pk=row.pk).update(
                    last_deferred_at=now, deferrals=F("deferrals") + new, last_error=errors[domain]
                )
        self._learn(mass_email)

    def _learn(self, mass_email: MassEmail) -> None:
        """Leave alone, for the rest of the run, the domains another worker of the run found
        deferring `mass_email` (its rows were written since the run started)."""
        if self.run_start is None:
            return
        last = self._looked_at.get(mass_email.pk)
        if last is not None and time.monotonic() - last < SHARE_EVERY:
            return
        self._looked_at[mass_email.pk] = time.monotonic()
        rows = DomainDeferral.objects.filter(
            mass_email=mass_email, last_deferred_at__gte=self.run_start
        )
        found = list(rows.values_list("domain", "last_error"))
        with self._lock:
            for domain, error in found:
                if self._streak[domain] < self.limit:
                    self._streak[domain] = self.limit
                    self._last_error.setdefault(domain, error)

    def _listed(self, mass_email: MassEmail) -> set[str]:
        """The domains `mass_email`'s page lists as deferring: read once per run."""
        if mass_email.pk not in self._rows:
            rows = DomainDeferral.objects.filter(mass_email=mass_email)
            self._rows[mass_email.pk] = set(rows.values_list("domain", flat=True))
        return self._rows[mass_email.pk]
