"""The sending job (spec §4): claim a portion of each In Process mass email, render, send, record.

`run_send_job` is what the Celery beat entry "Send Mass Emails" and `manage.py send_mass_emails`
run. Items are claimed in chunks (campaigns.claims), sent over one reused SMTP connection per
account (campaigns.transport), and each chunk's results are recorded in one short transaction:
a bulk status update, the Sent log rows and, when asked, the stored copies. See docs/delivery.md
for the guarantees (at-least-once, duplicates bounded by CHUNK_SIZE).
"""

import datetime
import logging
from dataclasses import dataclass, field

from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import claims
from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings
from campaigns.outcomes import FAILED, RETRY, SENT, Outcome, record
from campaigns.queue import build_due_queues
from campaigns.rendering import CompiledMassEmail, RenderError
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
# Columns neither the address check nor the renderer reads; skipping them halves loading time.
PAUSABLE = (MassEmail.Status.PENDING, MassEmail.Status.IN_PROCESS)
CANCELABLE = (*PAUSABLE, MassEmail.Status.DRAFT, MassEmail.Status.PAUSED)
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
    """Send what the hourly window (and `limit`) allows of one In Process mass email."""
    now = now or timezone.now()
    try:
        compiled = CompiledMassEmail.compile(mass_email)
    except RenderError as exc:
        fail_mass_email(mass_email, str(exc))
        report.problems.append(_("%(name)s failed: %(error)s") % _named(mass_email, exc))
        return
    done = 0
    while limit is None or done < limit:
        wanted = CHUNK_SIZE if limit is None else min(CHUNK_SIZE, limit - done)
        if not _still_in_process(mass_email):
            return
        ids = claims.claim_portion(mass_email.pk, wanted, config.max_per_hour, now)
        if not ids:
            break
        outcomes, stopped, unsent = send_chunk(_load(ids, mass_email), compiled, transport)
        if unsent:
            claims.release([item.pk for item in unsent])
        record(outcomes, mass_email, config)
        report.add(outcomes)
        done += len(outcomes)
        if stopped is not None:
            _report_stop(mass_email, stopped, report)
            return
    complete_if_done(mass_email)


def send_chunk(
    items: list[EmailQueueItem], compiled: CompiledMassEmail, transport: Transport
) -> tuple[list[Outcome], Exception | None, list[EmailQueueItem]]:
    """Send claimed items in order; stops at a connection problem or a rendering error.

    Returns the outcomes of the items dealt with, the exception that stopped the chunk (or
    None), and the items not tried because of it (nothing was sent for them).
    """
    outcomes = []
    for index, item in enumerate(items):
        try:
            outcomes.append(deliver(item, compiled, transport))
        except (ConnectionProblem, RenderError) as exc:
            return outcomes, exc, items[index:]
    return outcomes, None, []


def deliver(item: EmailQueueItem, compiled: CompiledMassEmail, transport: Transport) -> Outcome:
    """Re-check the address, render and send one item; raises ConnectionProblem, RenderError."""
    problem = address_problem(item, item.mass_email.campaign.is_informational)
    if problem:
        return Outcome(item, FAILED, problem, attempted=False)
    rendered = compiled.render(item)
    try:
        transport.send(rendered.envelope_from, rendered.recipient, rendered.data)
    except TemporaryRejection as exc:
        return Outcome(item, RETRY, str(exc), rendered=rendered)
    except PermanentRejection as exc:
        return Outcome(item, FAILED, str(exc), bounced=True, rendered=rendered)
    return Outcome(item, SENT, rendered=rendered)


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


def _still_in_process(mass_email: MassEmail) -> bool:
    # Pause and Cancel are admin actions that may land while a run is sending.
    return MassEmail.objects.filter(pk=mass_email.pk, status=MassEmail.Status.IN_PROCESS).exists()


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
