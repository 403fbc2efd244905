"""The SMTP sessions one worker keeps open to one sending source, and the queue that feeds them.

A portion hands its rendered messages to the source's pool (`submit`); each of up to the
source's `connections` threads owns one session (campaigns.sending.transport) and streams
messages from the shared queue, one round trip each. Before a message goes out its thread skips
it when its domain is deferring this run (campaigns.sending.deferrals) and takes a slot of the
source's messages-per-second limit (campaigns.sending.rate). Each message's answer settles its
delivery, and the portion waits for its whole handover before recording the chunk.

The first session opens alone; more follow once it is open, as many as there is work for, so a
server that is down gets one connection attempt, not `connections`. A session that cannot be
opened later, or that its server breaks, retires and gives its message back to the queue for
the others (a relay that caps concurrent sessions just gets fewer). When the last session
retires, or at once for a configuration problem, the pool is broken for the run: every message
still queued settles with that problem, unsent, as when a server is down.
"""

import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from django.db import DatabaseError
from django.utils.translation import gettext_lazy
from redis import RedisError

from campaigns.sending.deferrals import DomainBackoff
from campaigns.sending.rate import limit_for
from campaigns.sending.smtp_stream import Letter
from campaigns.sending.transport import (
    NOT_STARTED,
    AddressRefused,
    ConfigurationProblem,
    ConnectionProblem,
    SmtpProblem,
    TemporaryRejection,
    Transport,
    smtp_address,
)
from crm.models import EmailAccount, OutboundEmailSettings

logger = logging.getLogger(__name__)
_LIMITER_DOWN = gettext_lazy(
    "The messages-per-second limit could not be checked (%(error)s); sending from this source "
    "waits for the next run."
)


class DomainWaiting(Exception):
    """The recipient's domain deferred enough messages this run: not tried, waits for the next."""


class Withdrawn(Exception):
    """Taken back from the queue before any session started it (the portion broke)."""


class Handover:
    """Deliveries handed to a pool together; `wait()` returns once every one is settled.

    One event for the lot, not a Future per message: at thousands of messages a second the
    condition each Future makes costs as much as rendering."""

    def __init__(self, count: int):
        self._left = count
        self._lock = threading.Lock()
        self._settled = threading.Event()
        if count == 0:
            self._settled.set()

    def one_settled(self) -> None:
        with self._lock:
            self._left -= 1
            if self._left == 0:
                self._settled.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether every delivery is settled, after waiting up to `timeout` seconds (None:
        until they are)."""
        return self._settled.wait(timeout)


@dataclass(eq=False)
class Delivery:
    """One rendered message handed to a pool; settled once with None (the server took it) or
    the exception that says what happened."""

    envelope_from: str
    recipient: object  # the RCPT TO address: str or crm.addresses.SmtpAddress
    data: bytes
    domain: str  # the recipient's domain as stored, for the per-domain backoff
    retry: bool = False  # tried before: a deferral tells about the mailbox, not the domain
    handover: Handover | None = None
    message_id: str = ""  # the ESP's id of the message, when it went out through an ESP's API
    settled: bool = False
    error: BaseException | None = field(default=None, repr=False)

    def settle(self, error: BaseException | None = None) -> None:
        """Record the answer (None: accepted); a delivery is settled once."""
        if self.settled:
            return
        self.error, self.settled = error, True
        if self.handover is not None:
            self.handover.one_settled()


class DeliveryPool:
    """What the pools of one run to one source share (SessionPool here, esp_pool.ApiPool for an
    ESP's API): up to `connections` threads fed from one queue of deliveries, started as work
    comes, one until the server has answered once (`_reached`), so that a server that is down
    gets one attempt, not `connections`; and breaking, which settles every delivery still
    queued with the problem, unsent. Subclasses serve the queue in `_serve`."""

    thread_name = "pool"

    def __init__(self, source: OutboundEmailSettings | EmailAccount, backoff: DomainBackoff):
        self.source = source
        self.backoff = backoff
        self.connections = max(1, getattr(source, "connections", 1) or 1)
        self.limit = limit_for(source)
        self.broken: ConnectionProblem | None = None
        self._queue: deque[Delivery] = deque()
        self._ready = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._alive = 0
        self._reached = False  # the server has answered once: more threads may start
        self._closing = False

    def submit(self, deliveries: list[Delivery]) -> None:
        """Queue `deliveries` in order; each one settles when its server answered."""
        with self._ready:
            if self.broken is not None:
                for delivery in deliveries:
                    delivery.settle(self.broken)
                return
            self._queue.extend(deliveries)
            self._ready.notify_all()
            self._grow()

    def withdraw(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Take back those of `deliveries` that no thread has started: they settle with
        Withdrawn and are returned; the others settle as their servers answer."""
        wanted = set(map(id, deliveries))
        with self._ready:
            taken = [d for d in self._queue if id(d) in wanted]
            for delivery in taken:
                self._queue.remove(delivery)
        for delivery in taken:
            delivery.settle(Withdrawn())
        return taken

    def close(self) -> None:
        """Stop the threads once the queue is empty and wait for them."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        for thread in list(self._threads):
            thread.join()

    # Called with self._ready held.
    def _grow(self) -> None:
        """Start threads for the queued work: one until the server has answered, then up to
        `connections`."""
        wanted = min(self.connections, len(self._queue)) if self._reached else 1
        for _ in range(wanted - self._alive):
            thread = threading.Thread(
                target=self._serve,
                name=f"{self.thread_name}-{len(self._threads) + 1}",
                daemon=True,
            )
            self._threads.append(thread)
            self._alive += 1
            thread.start()

    def _break(self, problem: ConnectionProblem) -> None:
        self.broken = self.broken or problem
        while self._queue:
            self._queue.popleft().settle(self.broken)
        self._ready.notify_all()

    def _answered(self) -> None:
        """The server has answered once: the other threads may start (called with
        self._ready held)."""
        if not self._reached and self.broken is None:
            self._reached = True
            self._grow()

    # In the pool's threads.
    def _serve(self) -> None:
        raise NotImplementedError

    def _take_slot(self) -> None:
        """Wait for the source's next messages-per-second slot. Without the shared limiter the
        limit cannot be kept: ConnectionProblem, and the caller stops for this run."""
        try:
            self.limit.take(block=True)
        except (DatabaseError, RedisError, OSError) as exc:
            logger.exception("The messages-per-second limiter of %s failed", self.source)
            raise ConnectionProblem(_LIMITER_DOWN % {"error": exc}) from exc

    def _settle_with(self, delivery: Delivery, problem: SmtpProblem | None) -> None:
        """Settle `delivery` with its server's answer (None: accepted), which the per-domain
        backoff hears too (a deferral of an item already retried does not count again)."""
        if problem is None:
            self.backoff.accepted(delivery.domain)
        elif isinstance(problem, TemporaryRejection) and not delivery.retry:
            self.backoff.deferred(delivery.domain, str(problem))
        delivery.settle(problem)


class SessionPool(DeliveryPool):
    """Up to `connections` SMTP sessions to one source, for one run of one worker."""

    thread_name = "smtp"

    # In the session threads.
    def _serve(self) -> None:
        transport, problem = Transport(self.source), None
        try:
            transport.serve(self._take, self._done, self._pace)
        except ConnectionProblem as exc:
            problem = exc
        except Exception as exc:  # noqa: BLE001  a bug in one session: the others go on
            logger.exception("An SMTP session thread broke")
            problem = ConnectionProblem(f"{type(exc).__name__}: {exc}")
        finally:
            transport.close()
            self._retire(problem)

    def _take(self, block: bool) -> Letter | None:
        while (delivery := self._next(block)) is not None:
            if self.backoff.waiting(delivery.domain):
                delivery.settle(DomainWaiting(delivery.domain))
                continue
            try:
                sender, recipient = (
                    smtp_address(delivery.envelope_from),
                    smtp_address(delivery.recipient),
                )
            except AddressRefused as exc:
                delivery.settle(exc)
                continue
            return Letter(sender, recipient, delivery.data, handle=delivery)
        return None

    def _pace(self, letter: Letter) -> None:
        """Wait for the source's next messages-per-second slot, just before the content goes
        out, so that what the server counts is what the slots allow.

        Without the shared limiter the limit cannot be kept: the session ends, its message is
        deferred, and the pool stops for this run, as when the server is down."""
        try:
            self._take_slot()
        except ConnectionProblem as problem:
            with self._ready:
                self._break(problem)
            raise

    def _next(self, block: bool) -> Delivery | None:
        with self._ready:
            self._answered()  # taking means this session is open: the others may come
            while not self._queue:
                if not block or self._closing or self.broken is not None:
                    return None
                self._ready.wait()
            return self._queue.popleft()

    def _done(self, letter: Letter, answer: SmtpProblem | object | None) -> None:
        delivery: Delivery = letter.handle
        if answer is NOT_STARTED or (
            isinstance(answer, ConnectionProblem) and not isinstance(answer, ConfigurationProblem)
        ):
            self._give_back(delivery)  # another session takes it, or the break settles it
        else:
            self._settle_with(delivery, answer)

    def _give_back(self, delivery: Delivery) -> None:
        with self._ready:
            if self.broken is not None:
                delivery.settle(self.broken)
                return
            self._queue.appendleft(delivery)
            self._ready.notify()

    def _retire(self, problem: ConnectionProblem | None) -> None:
        """A session ended. With a problem the pool breaks, unless it is the server refusing one
        more session while others carry on."""
        with self._ready:
            self._alive -= 1
            fatal = isinstance(problem, ConfigurationProblem) or not self._reached
            if problem is not None and (fatal or self._alive == 0):
                self._break(problem)
            elif self._alive == 0 and self._queue:
                self._break(problem or ConnectionProblem("Every SMTP session ended."))
        if problem is not None and self.broken is None:
            logger.info("A session to %s retired, the others go on: %s", self.source, problem)
