"""The sending job (spec §4): claim a portion of each In Process mass email, render, send, record.

`run_send_job` is what the Celery beat entry "Send Mass Emails" and `manage.py send_mass_emails`
run. Items are claimed in chunks (campaigns.sending.claims), sent over one reused SMTP connection
per account (campaigns.sending.transport), and each chunk's results are recorded in one short
transaction: a bulk status update, the Sent log rows and, when asked, the stored copies. See
docs/delivery.md for the guarantees (at-least-once, duplicates bounded by CHUNK_SIZE).

One item, one fate: whatever goes wrong with one item (its address, its rendering, its SMTP
exchange) fails or defers that item alone, with a sentence in `last_error`. An exception that
escapes one mass email's portion anyway is logged with its traceback in the job run, the items
it claimed and did not send go back to Pending at once, and the other mass emails still go out.
"""

import datetime
import logging
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import DatabaseError
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.authoring.rendering import CompiledMassEmail, RenderedMessage, RenderError
from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings
from campaigns.sending import claims
from campaigns.sending.deferrals import DomainBackoff, domain_of
from campaigns.sending.outcomes import FAILED, RETRY, SENT, WAITING, Outcome, record
from campaigns.sending.queue import build_due_queues
from campaigns.sending.transport import (
    AddressRefused,
    ConfigurationProblem,
    ConnectionProblem,
    MessageFailed,
    PermanentRejection,
    TemporaryRejection,
    Transport,
    Transports,
)
from crm import addresses
from crm.jobs import SEND_MASS_EMAILS, record_run

logger = logging.getLogger(__name__)
Status = EmailQueueItem.Status
# Items per claim and per recording transaction: also the most duplicates a crash can cause.
CHUNK_SIZE = 100
PAUSABLE = (MassEmail.Status.PENDING, MassEmail.Status.IN_PROCESS)
CANCELABLE = (*PAUSABLE, MassEmail.Status.DRAFT, MassEmail.Status.PAUSED)
# Columns neither the address check nor the renderer reads; skipping them halves loading time.
UNUSED_ITEM_FIELDS = ("created_at", "claimed_at", "sent_at", "last_error", "next_attempt_at")


@dataclass
class SendReport:
    """What one run did; `summary()` is what the command prints and the job log keeps."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    waiting: int = 0
    requeued: int = 0
    queued: int = 0
    problems: list[str] = field(default_factory=list)
    configuration_errors: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)  # tracebacks of portions that broke

    def add(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.sent += outcome.result == SENT
            self.failed += outcome.result == FAILED
            self.retried += outcome.result == RETRY
            self.waiting += outcome.result == WAITING

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.retried

    def summary(self) -> str:
        text = _(
            "%(sent)s sent, %(failed)s failed, %(retried)s deferred, %(waiting)s waiting for "
            "their domain, %(queued)s queued, %(requeued)s stale claims resolved."
        ) % vars(self)
        return " ".join([text, *self.configuration_errors, *self.problems])


class SendConfigurationError(Exception):
    """The job could not send because SMTP settings are wrong; the message says which."""


def run_recorded_send_job() -> SendReport:
    """Run the job inside the "Send Mass Emails" job log; raises SendConfigurationError.

    A portion that broke with an unexpected exception leaves its traceback in the run's error
    and the run Failed, after every other mass email was sent.
    """
    with record_run(SEND_MASS_EMAILS) as run:
        report = run_send_job()
        run.summary = report.summary()
        run.error = "\n\n".join(report.crashes)
        if report.configuration_errors:
            raise SendConfigurationError(" ".join(report.configuration_errors))
    return report


def run_send_job(now: datetime.datetime | None = None) -> SendReport:
    """Run the sending job once: resolve stale claims, build due queues, send the portions.

    Never raises for SMTP, address or rendering trouble: those end up in the report
    (configuration errors separately, so the command can exit non-zero) and on the items and
    mass emails.
    """
    now = now or timezone.now()
    config = MassEmailSettings.load()
    report = SendReport(requeued=claims.resolve_stale_claims(now, config.max_attempts))
    report.queued = sum(result.queued for result in build_due_queues(now=now))
    budget = config.max_per_batch
    transports, backoff = Transports(), DomainBackoff()
    try:
        in_process = MassEmail.objects.filter(status=MassEmail.Status.IN_PROCESS)
        for mass_email in in_process.select_related("campaign", "smtp_account").order_by(
            F("start_at").asc(nulls_first=True), "id"
        ):
            transport = transports.for_mass_email(mass_email)
            if transport.broken:
                continue
            budget_left = None if budget is None else budget - report.handled
            if budget_left is not None and budget_left <= 0:
                break
            Portion(mass_email, transport, config, report, now, backoff).send(budget_left)
    finally:
        transports.close()
    logger.info("Send Mass Emails: %s", report.summary())
    return report


class Portion:
    """One run's portion of one mass email.

    Stops when the mass email is paused or canceled (claims are only for In Process ones).
    One SMTP thread sends chunk k while this thread claims, loads and renders chunk k+1; chunk
    k+1 is handed over only once chunk k is recorded, so a crash still leaves at most one
    chunk sent but unrecorded.
    """

    def __init__(
        self,
        mass_email: MassEmail,
        transport: Transport,
        config: MassEmailSettings,
        report: SendReport,
        now: datetime.datetime,
        backoff: DomainBackoff | None = None,
    ):
        self.mass_email, self.transport, self.config = mass_email, transport, config
        self.report, self.now = report, now
        self.backoff = backoff or DomainBackoff()
        self.unsent: set[int] = set()  # claimed, not yet handed to the SMTP thread
        self.in_flight: Chunk | None = None  # handed to the SMTP thread, not recorded yet

    def send(self, limit: int | None) -> None:
        """Send the portion; an exception it did not expect is reported, never raised."""
        try:
            compiled = CompiledMassEmail.compile(self.mass_email)
        except RenderError as exc:
            fail_mass_email(self.mass_email, str(exc))
            self.report.problems.append(
                _("%(name)s failed: %(error)s") % _named(self.mass_email, exc)
            )
            return
        try:
            if self._send_chunks(compiled, limit):
                complete_if_done(self.mass_email)
        except Exception as exc:  # noqa: BLE001  one mass email's breakage must not stop the others
            self._crashed(exc)

    def _send_chunks(self, compiled: CompiledMassEmail, limit: int | None) -> bool:
        claimed, sending = 0, None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp") as sender:
            while True:
                upcoming = None
                if limit is None or claimed < limit:
                    wanted = CHUNK_SIZE if limit is None else min(CHUNK_SIZE, limit - claimed)
                    ids = claims.claim_portion(
                        self.mass_email.pk, wanted, self.config.max_per_hour, self.now
                    )
                    claimed += len(ids)
                    self.unsent.update(ids)
                    upcoming = prepare_chunk(_load(ids, self.mass_email), compiled) if ids else None
                if sending is not None and not self._finish(sending):
                    claims.release(sorted(self.unsent))  # the next chunk was claimed, not sent
                    self.unsent.clear()
                    return False
                if upcoming is None:
                    return True
                sending = submit_chunk(upcoming, self.transport, sender, self.backoff)
                self.in_flight = sending
                self.unsent.difference_update(item.pk for item in upcoming.items)

    def _finish(self, chunk: "Chunk") -> bool:
        """Wait for a chunk, record it; False if the server stopped (the problem is reported)."""
        outcomes, stopped, unsent = finish_chunk(chunk)
        if unsent:
            claims.release([item.pk for item in unsent])
        record(outcomes, self.mass_email, self.config)
        self.in_flight = None
        self.backoff.remember(self.mass_email)
        self.report.add(outcomes)
        if stopped is not None:
            _report_stop(self.mass_email, stopped, self.report)
        return stopped is None

    def _crashed(self, exc: Exception) -> None:
        # Messages the server accepted but that were not recorded stay Sending for the lease
        # (at-least-once); every other claimed item was not delivered and is Pending again now.
        not_sent = set(self.unsent)
        if self.in_flight is not None:  # the SMTP thread has finished: the executor was shut
            chunk = self.in_flight
            not_sent |= {o.item.pk for o in chunk.decided}
            not_sent |= {i.pk for i, _m, future in chunk.sending if future.exception() is not None}
        logger.exception("Sending %s broke", self.mass_email)
        try:
            claims.release(sorted(not_sent))
        except DatabaseError:
            logger.exception("Could not release %s items; the lease will", len(not_sent))
        self.report.crashes.append(
            f"{self.mass_email.name} (#{self.mass_email.pk}):\n{traceback.format_exc()}"
        )
        stopped = _(
            "%(name)s stopped by an unexpected error; its unsent items are Pending: %(error)s"
        )
        error = f"{type(exc).__name__}: {exc}"
        self.report.problems.append(stopped % _named(self.mass_email, error))


@dataclass
class Chunk:
    """Claimed items on their way: decided without sending, rendered, handed to the sender."""

    items: list[EmailQueueItem]
    decided: list[Outcome] = field(default_factory=list)
    rendered: list[tuple[EmailQueueItem, RenderedMessage]] = field(default_factory=list)
    sending: list[tuple[EmailQueueItem, RenderedMessage, Future]] = field(default_factory=list)


def prepare_chunk(items: list[EmailQueueItem], compiled: CompiledMassEmail) -> Chunk:
    """Re-check each address and render each message; an item that cannot be is decided."""
    chunk = Chunk(items)
    for item in items:
        problem = address_problem(item, item.mass_email.campaign.is_informational)
        if problem:
            chunk.decided.append(Outcome(item, FAILED, problem, attempted=False))
            continue
        try:
            chunk.rendered.append((item, compiled.render(item)))
        except Exception as exc:  # noqa: BLE001  a value that breaks one message fails it alone
            reason = str(exc) if isinstance(exc, RenderError) else f"{type(exc).__name__}: {exc}"
            message = _("The message could not be rendered: %(error)s") % {"error": reason}
            chunk.decided.append(Outcome(item, FAILED, message, attempted=False))
    return chunk


def submit_chunk(
    chunk: Chunk,
    transport: Transport,
    sender: ThreadPoolExecutor,
    backoff: DomainBackoff | None = None,
) -> Chunk:
    """Hand the rendered messages to the sender thread, in order; returns at once."""
    backoff = backoff or DomainBackoff()
    for item, message in chunk.rendered:
        future = sender.submit(send_one, transport, backoff, message, item.attempts > 0)
        chunk.sending.append((item, message, future))
    return chunk


class DomainWaiting(Exception):
    """The recipient's domain deferred enough messages this run: not tried, waits for the next."""


def send_one(
    transport: Transport, backoff: DomainBackoff, message: RenderedMessage, retry: bool = False
) -> None:
    """Send one message unless its domain is deferring this run; notes the domain's answer.

    A retry deferred again tells about its mailbox, not the domain: it does not count toward
    the domain's deferrals in a row."""
    domain = domain_of(message.recipient)
    if backoff.waiting(domain):
        raise DomainWaiting(domain)
    try:
        recipient = message.smtp_recipient or message.recipient
        transport.send(message.envelope_from, recipient, message.data)
    except TemporaryRejection as exc:
        if not retry:
            backoff.deferred(domain, str(exc))
        raise
    backoff.accepted(domain)


def finish_chunk(chunk: Chunk) -> tuple[list[Outcome], Exception | None, list[EmailQueueItem]]:
    """Wait for the sender thread. Returns every outcome, the connection problem that stopped
    the chunk or None, and the items not tried because of it."""
    outcomes, unsent, stopped = list(chunk.decided), [], None
    for item, message, future in chunk.sending:
        outcome = _outcome(item, message, future)
        if isinstance(outcome, ConnectionProblem):  # the transport is broken: the rest land here
            stopped = stopped or outcome
            unsent.append(item)
        else:
            outcomes.append(outcome)
    return outcomes, stopped, unsent


def _outcome(item: EmailQueueItem, message: RenderedMessage, future: Future):
    try:
        future.result()
    except ConnectionProblem as exc:
        return exc
    except DomainWaiting as exc:
        waiting = _("%(domain)s is deferring messages; this one waits for a later run.")
        return Outcome(item, WAITING, waiting % {"domain": exc}, attempted=False)
    except TemporaryRejection as exc:
        return Outcome(item, RETRY, str(exc), rendered=message)
    except PermanentRejection as exc:
        return Outcome(
            item, FAILED, str(exc), bounced=True, rendered=message, reply=exc.reply, code=exc.code
        )
    except (AddressRefused, MessageFailed) as exc:
        return Outcome(item, FAILED, str(exc), attempted=False, rendered=message)
    return Outcome(item, SENT, rendered=message)


def send_chunk(
    items: list[EmailQueueItem], compiled: CompiledMassEmail, transport: Transport
) -> tuple[list[Outcome], Exception | None, list[EmailQueueItem]]:
    """Check, render and send claimed items now (test sends); as finish_chunk returns."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp") as sender:
        return finish_chunk(submit_chunk(prepare_chunk(items, compiled), transport, sender))


def address_problem(item: EmailQueueItem, informational: bool) -> str:
    """Why the item's address must not be mailed now ('' if it may be)."""
    address = item.email_address
    if address is None:
        return _("The recipient has no email address any more.")
    if address.invalid:
        return _("The address %(address)s is marked invalid (it bounced).") % {"address": address}
    if address.opt_out and not informational:
        return _("The address %(address)s opted out of mass email.") % {"address": address}
    reason = addresses.problem(item.email or address.address)
    if reason:
        return _("The address cannot be sent to: %(reason)s") % {"reason": reason}
    return ""


def _load(ids: list[int], mass_email: MassEmail) -> list[EmailQueueItem]:
    items = (
        EmailQueueItem.objects.filter(id__in=ids)
        .select_related("email_address", "account", "contact", "contact__account", "lead", "user")
        .defer(*UNUSED_ITEM_FIELDS)
        .order_by("id")
    )
    for item in items:
        item.mass_email = mass_email
    return items


def complete_if_done(mass_email: MassEmail) -> bool:
    """Mark an In Process mass email Complete when no item is Pending or Sending any more."""
    open_items = mass_email.queue_items.filter(
        is_test=False, status__in=[Status.PENDING, Status.SENDING]
    )
    if open_items.exists():
        return False
    return bool(
        MassEmail.objects.filter(pk=mass_email.pk, status=MassEmail.Status.IN_PROCESS).update(
            status=MassEmail.Status.COMPLETE
        )
    )


def fail_mass_email(mass_email: MassEmail, reason: str) -> None:
    """Mark a mass email Failed with the reason shown in the admin (e.g. a rendering error)."""
    MassEmail.objects.filter(pk=mass_email.pk).update(
        status=MassEmail.Status.FAILED, failure_reason=reason
    )
    logger.warning("Mass email %s failed: %s", mass_email.pk, reason)


def _named(mass_email: MassEmail, exc: Exception) -> dict:
    return {"name": mass_email.name, "error": exc}


def _report_stop(mass_email: MassEmail, stopped: Exception, report: SendReport) -> None:
    if isinstance(stopped, ConfigurationProblem):
        report.configuration_errors.append(
            _("SMTP settings of %(name)s: %(error)s") % _named(mass_email, stopped)
        )
    else:
        report.problems.append(
            _("%(name)s paused until the next run: %(error)s") % _named(mass_email, stopped)
        )


def pause(mass_emails: QuerySet) -> int:
    """Pause Pending and In Process mass emails: no queue is built, nothing is sent; how many.

    A run already sending finishes its current chunk (at most CHUNK_SIZE messages) and stops.
    """
    return mass_emails.filter(status__in=PAUSABLE).update(status=MassEmail.Status.PAUSED)


def resume(mass_emails: QuerySet) -> int:
    """Resume paused mass emails where they stopped: In Process if queued, else Pending."""
    paused = mass_emails.filter(status=MassEmail.Status.PAUSED)
    queued = Exists(EmailQueueItem.objects.filter(mass_email=OuterRef("pk"), is_test=False))
    resumed = paused.filter(queued).update(status=MassEmail.Status.IN_PROCESS)
    return resumed + paused.update(status=MassEmail.Status.PENDING)


def cancel(mass_emails: QuerySet) -> int:
    """Cancel mass emails for good: what is not sent yet is never sent; how many."""
    return mass_emails.filter(status__in=CANCELABLE).update(status=MassEmail.Status.CANCELED)
