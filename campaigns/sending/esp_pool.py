"""The API calls of one run to one source that sends through an ESP's HTTP API: `ApiPool`, with
the interface of the SMTP sessions (campaigns.sending.sessions), keeps up to `connections` calls
going at once, each thread with an EspTransport of its own (campaigns.sending.esp) fed from one
queue.

The pool hears of every call, not of a thread's share (`before_call`, `after_call`): after a
429 with a short Retry-After no call goes out on any thread before it has passed; a longer one,
or DEFERRED_CALLS_IN_A_ROW calls deferred, stops the source for the run (the rest goes back to
Pending untried). A call the ESP deferred as a whole is about the ESP, not the recipients'
domains: the per-domain backoff does not hear of it (docs/delivery.md, "ESP APIs").
"""

import logging
import time

from django.utils.translation import gettext as _

from campaigns.sending.deferrals import DomainBackoff
from campaigns.sending.esp import EspTransport, raise_broken
from campaigns.sending.esp_answers import RetryLater, SourceDeferral, in_doubt
from campaigns.sending.rate import NoLimit
from campaigns.sending.sessions import Delivery, DeliveryPool, DomainWaiting
from campaigns.sending.transport import (
    ConnectionProblem,
    SmtpProblem,
    TemporaryRejection,
)
from crm.models import EmailAccount, OutboundEmailSettings

logger = logging.getLogger(__name__)
# A 429's Retry-After up to this long pauses the pool; longer stops the source for the run.
MAX_PAUSE = 30.0
# Calls deferred in a row (429, 5xx, no answer in time), none accepted in between, before the
# source stops for the run: an ESP having an outage does not use up every item's attempts.
DEFERRED_CALLS_IN_A_ROW = 3


class ApiPool(DeliveryPool):
    """SessionPool's interface for a source that sends through an ESP's API: up to
    `connections` threads, each making one API call at a time, fed from one queue; every
    message takes a slot of the source's messages-per-second limit first."""

    thread_name = "esp"

    def __init__(
        self,
        source: OutboundEmailSettings | EmailAccount,
        backoff: DomainBackoff,
        transport_class=EspTransport,
    ):
        super().__init__(source, backoff)
        self.transport_class = transport_class
        self._resume_at = 0.0  # monotonic time before which no call goes out (a 429)
        self._deferred_calls = 0  # calls in a row whose every message was deferred

    # In the API threads.
    def _serve(self) -> None:
        transport = None
        try:
            transport = self.transport_class(self.source, calls=self)
            while batch := self._next(transport):
                self._deliver(transport, batch)
        except ConnectionProblem as exc:
            with self._ready:
                self._break(exc)
        except Exception as exc:  # noqa: BLE001  a bug in one thread: the pool stops, nothing lost
            logger.exception("An ESP API thread broke")
            with self._ready:
                self._break(ConnectionProblem(f"{type(exc).__name__}: {exc}"))
        finally:
            if transport is not None:
                transport.close()
            with self._ready:
                self._alive -= 1
                if self._alive == 0 and self._queue and self.broken is None:
                    self._break(ConnectionProblem(_("Every API thread ended.")))

    def _next(self, transport: EspTransport) -> list[Delivery]:
        """The messages for this thread's next call: the ESP's batch, shared out so that every
        thread has some; one at a time when a rate is set, so that each call goes right after
        its slot (a batch sent at its last slot would crowd the slots before it into one
        moment). Empty when the pool is done."""
        limit = 1 if not isinstance(self.limit, NoLimit) else transport.batch_size
        with self._ready:
            while True:
                if self.broken is not None:
                    return []
                if self._queue:
                    share = -(-len(self._queue) // self.connections)
                    size = max(1, min(limit, share))
                    return [self._queue.popleft() for _i in range(size)]
                if self._closing:
                    return []
                self._ready.wait()

    def _deliver(self, transport: EspTransport, batch: list[Delivery]) -> None:
        sending = []
        for delivery in batch:
            if self.backoff.waiting(delivery.domain):
                delivery.settle(DomainWaiting(delivery.domain))
            else:
                sending.append(delivery)
        if not sending:
            return
        try:
            answers = transport.send_batch([delivery.data for delivery in sending])
        except Exception as exc:  # noqa: BLE001  every delivery must settle, or its chunk waits forever
            # send_batch answers for every message whatever happens; should it raise all the
            # same, some of these may have gone out: in doubt, sent again (at-least-once).
            logger.exception("An ESP API call broke")
            answers = [in_doubt(f"{type(exc).__name__}: {exc}")] * len(sending)
        for delivery, answer in zip(sending, answers, strict=True):
            self._settle(delivery, answer)
        raise_broken(answers)  # after some calls went out: the source stops

    def _settle(self, delivery: Delivery, answer: str | SmtpProblem) -> None:
        """Settle with the ESP's answer: its message id, or a problem. A deferral of the whole
        call or of the account (SourceDeferral) is about the ESP, not the recipient's domain:
        the per-domain backoff does not count it."""
        if isinstance(answer, SourceDeferral):
            delivery.settle(answer)
            return
        if not isinstance(answer, SmtpProblem):
            delivery.message_id, answer = answer, None
        self._settle_with(delivery, answer)

    # The transports' Calls, on their threads.
    def before_call(self, count: int) -> None:
        """No call goes out, on any thread, before a 429's Retry-After has passed; then each
        message takes a slot of the source's messages-per-second limit. Raises the pool's
        problem once it is broken (the rest of a thread's share is not sent)."""
        with self._ready:
            while self.broken is None and (wait := self._resume_at - time.monotonic()) > 0:
                self._ready.wait(wait)
            if self.broken is not None:
                raise self.broken
        for _i in range(count):
            self._take_slot()

    def after_call(self, answers: list[str | SmtpProblem]) -> None:
        """A 429's Retry-After pauses every thread's calls, before more threads start once the
        ESP has answered; a call whose every message was deferred counts towards
        DEFERRED_CALLS_IN_A_ROW, one that took a message starts the count again."""
        wait = next((a.retry_after for a in answers if isinstance(a, RetryLater)), None)
        if wait:
            self._pause(wait)
        deferred = all(isinstance(answer, TemporaryRejection) for answer in answers)
        with self._ready:
            if not any(isinstance(answer, ConnectionProblem) for answer in answers):
                self._answered()
            self._deferred_calls = self._deferred_calls + 1 if deferred else 0
            if self._deferred_calls >= DEFERRED_CALLS_IN_A_ROW and self.broken is None:
                message = _(
                    "The ESP deferred %(count)s calls in a row (the last: %(error)s); the rest "
                    "waits for the next run."
                )
                what = {"count": self._deferred_calls, "error": answers[-1]}
                self._break(ConnectionProblem(message % what))

    def _pause(self, seconds: float) -> None:
        """A 429 said to wait: no call goes out before then; a long wait stops the source."""
        if seconds > MAX_PAUSE:
            message = _(
                "The ESP asks to wait %(seconds)s seconds before sending more; the rest waits "
                "for the next run."
            )
            with self._ready:
                self._break(ConnectionProblem(message % {"seconds": int(seconds)}, 429))
            return
        with self._ready:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)
