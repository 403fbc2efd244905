"""The sending job (spec §4): claim a portion of each In Process mass email, render, send, record.

`run_send_job` is what the Celery beat entry "Send Mass Emails" and `manage.py send_mass_emails`
run. Items are claimed in chunks (campaigns.claims), sent over one reused SMTP connection per
account (campaigns.transport), and each chunk's results are recorded in one short transaction:
a bulk status update, the Sent log rows and, when asked, the stored copies. See docs/delivery.md
for the guarantees (at-least-once, duplicates bounded by CHUNK_SIZE).
"""

import datetime
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import claims
from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings
from campaigns.outcomes import FAILED, RETRY, SENT, Outcome, record
from campaigns.queue import build_due_queues
from campaigns.rendering import CompiledMassEmail, RenderedMessage, RenderError
from campaigns.transport import (
    ConfigurationProblem,
    ConnectionProblem,
    PermanentRejection,
    TemporaryRejection,
    Transport,
    Transports,
)
from crm.jobs import SEND_MASS_EMAILS, record_run

logger = logging.getLogger(__name__)
Status = EmailQueueItem.Status
# Items per claim and per recording transaction: also the most duplicates a crash can cause.
CHUNK_SIZE = 100
PAUSABLE = (MassEmail.Status.PENDING, MassEmail.Status.IN_PROCESS)
CANCELABLE = (*PAUSABLE, MassEmail.Status.DRAFT, MassEmail.Status.PAUSED)
# Columns neither the address check nor the renderer reads; skipping them halves loading time.
UNUSED_ITEM_FIELDS = ("created_at", "claimed_at", "sent_at", "last_error")


@dataclass
class SendReport:
    """What one run did; `summary()` is what the command prints and the job log keeps."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    requeued: int = 0
    queued: int = 0
    problems: list[str] = field(default_factory=list)
    configuration_errors: list[str] = field(default_factory=list)

    def add(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.sent += outcome.result == SENT
            self.failed += outcome.result == FAILED
            self.retried += outcome.result == RETRY

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.retried

    def summary(self) -> str:
        text = _(
            "%(sent)s sent, %(failed)s failed, %(retried)s to retry, %(queued)s queued, "
            "%(requeued)s stale claims resolved."
        ) % vars(self)
        return " ".join([text, *self.configuration_errors, *self.problems])


class SendConfigurationError(Exception):
    """The job could not send because SMTP settings are wrong; the message says which."""


def run_recorded_send_job() -> SendReport:
    """Run the job inside the "Send Mass Emails" job log; raises SendConfigurationError."""
    with record_run(SEND_MASS_EMAILS) as run:
        report = run_send_job()
        run.summary = report.summary()
        if report.configuration_errors:
            raise SendConfigurationError(" ".join(report.configuration_errors))
    return report


def run_send_job(now: datetime.datetime | None = None) -> SendReport:
    """Run the sending job once: resolve stale claims, build due queues, send the portions.

    Never raises for SMTP or rendering trouble: those end up in the report (configuration
    errors separately, so the command can exit non-zero) and on the items and mass emails.
    """
    now = now or timezone.now()
    config = MassEmailSettings.load()
    report = SendReport(requeued=claims.resolve_stale_claims(now, config.max_attempts))
    report.queued = sum(result.queued for result in build_due_queues(now=now))
    budget = config.max_per_batch
    transports = Transports()
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
            send_portion(mass_email, transport, config, report, budget_left, now)
    finally:
        transports.close()
    logger.info("Send Mass Emails: %s", report.summary())
    return report


def send_portion(
    mass_email: MassEmail,
    transport: Transport,
    config: MassEmailSettings,
    report: SendReport,
    limit: int | None = None,
    now: datetime.datetime | None = None,
) -> None:
    """Send what the hourly window (and `limit`) allows of one In Process mass email.

    Stops when the mass email is paused or canceled (claims are only for In Process ones).
    One SMTP thread sends chunk k while this thread claims, loads and renders chunk k+1; chunk
    k+1 is handed over only once chunk k is recorded, so a crash still leaves at most one
    chunk sent but unrecorded.
    """
    now = now or timezone.now()
    try:
        compiled = CompiledMassEmail.compile(mass_email)
    except RenderError as exc:
        fail_mass_email(mass_email, str(exc))
        report.problems.append(_("%(name)s failed: %(error)s") % _named(mass_email, exc))
        return
    claimed, sending = 0, None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp") as sender:
        while True:
            upcoming = None
            if limit is None or claimed < limit:
                wanted = CHUNK_SIZE if limit is None else min(CHUNK_SIZE, limit - claimed)
                ids = claims.claim_portion(mass_email.pk, wanted, config.max_per_hour, now)
                claimed += len(ids)
                upcoming = prepare_chunk(_load(ids, mass_email), compiled) if ids else None
            if sending is not None and not _finish(sending, mass_email, config, report):
                if upcoming is not None:
                    claims.release([item.pk for item in upcoming.items])
                return
            if upcoming is None:
                break
            sending = submit_chunk(upcoming, transport, sender)
    complete_if_done(mass_email)


def _finish(
    chunk: "Chunk", mass_email: MassEmail, config: MassEmailSettings, report: SendReport
) -> bool:
    """Wait for a chunk, record it; False if it stopped (the problem is reported)."""
    outcomes, stopped, unsent = finish_chunk(chunk)
    if unsent:
        claims.release([item.pk for item in unsent])
    record(outcomes, mass_email, config)
    report.add(outcomes)
    if stopped is not None:
        _report_stop(mass_email, stopped, report)
    return stopped is None


@dataclass
class Chunk:
    """Claimed items on their way: decided without sending, rendered, handed to the sender."""

    items: list[EmailQueueItem]
    decided: list[Outcome] = field(default_factory=list)
    rendered: list[tuple[EmailQueueItem, RenderedMessage]] = field(default_factory=list)
    sending: list[tuple[EmailQueueItem, RenderedMessage, Future]] = field(default_factory=list)
    unsent: list[EmailQueueItem] = field(default_factory=list)
    stopped: Exception | None = None


def prepare_chunk(items: list[EmailQueueItem], compiled: CompiledMassEmail) -> Chunk:
    """Re-check each address and render each message; stops at a rendering error."""
    chunk = Chunk(items)
    for index, item in enumerate(items):
        problem = address_problem(item, item.mass_email.campaign.is_informational)
        if problem:
            chunk.decided.append(Outcome(item, FAILED, problem, attempted=False))
            continue
        try:
            chunk.rendered.append((item, compiled.render(item)))
        except RenderError as exc:
            chunk.stopped, chunk.unsent = exc, items[index:]
            break
    return chunk


def submit_chunk(chunk: Chunk, transport: Transport, sender: ThreadPoolExecutor) -> Chunk:
    """Hand the rendered messages to the sender thread, in order; returns at once."""
    for item, message in chunk.rendered:
        future = sender.submit(
            transport.send, message.envelope_from, message.recipient, message.data
        )
        chunk.sending.append((item, message, future))
    return chunk


def finish_chunk(chunk: Chunk) -> tuple[list[Outcome], Exception | None, list[EmailQueueItem]]:
    """Wait for the sender thread. Returns every outcome, the exception that stopped the chunk
    (a rendering error, a connection problem) or None, and the items not tried because of it."""
    outcomes, unsent, stopped = list(chunk.decided), [], chunk.stopped
    for item, message, future in chunk.sending:
        try:
            future.result()
        except ConnectionProblem as exc:  # the transport is now broken: later items land here too
            stopped = stopped or exc
            unsent.append(item)
        except TemporaryRejection as exc:
            outcomes.append(Outcome(item, RETRY, str(exc), rendered=message))
        except PermanentRejection as exc:
            outcomes.append(Outcome(item, FAILED, str(exc), bounced=True, rendered=message))
        else:
            outcomes.append(Outcome(item, SENT, rendered=message))
    return outcomes, stopped, unsent + chunk.unsent


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
    if isinstance(stopped, RenderError):
        fail_mass_email(mass_email, str(stopped))
        report.problems.append(_("%(name)s failed: %(error)s") % _named(mass_email, stopped))
    elif isinstance(stopped, ConfigurationProblem):
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
