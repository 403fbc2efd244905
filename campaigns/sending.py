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

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import claims
from campaigns.models import (
    CampaignLogRecord,
    EmailQueueItem,
    MassEmail,
    MassEmailSettings,
    SentEmail,
)
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
from crm.models import EmailAddress

logger = logging.getLogger(__name__)
Status = EmailQueueItem.Status
# Items per claim and per recording transaction: also the most duplicates a crash can cause.
CHUNK_SIZE = 100
SENT, RETRY, FAILED = "sent", "retry", "failed"
TARGET_FIELDS = EmailQueueItem.TARGET_FIELDS
# Columns neither the address check nor the renderer reads; skipping them halves loading time.
UNUSED_ITEM_FIELDS = ("created_at", "claimed_at", "sent_at", "last_error")


@dataclass
class Outcome:
    """What happened to one claimed item."""

    item: EmailQueueItem
    result: str
    error: str = ""
    attempted: bool = True
    bounced: bool = False  # a 5xx refusal of the recipient: a hard bounce
    rendered: object = None


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


def record(outcomes: list[Outcome], mass_email: MassEmail, config: MassEmailSettings) -> None:
    """Store a chunk's results in one transaction: statuses, Sent log rows, stored copies.

    Only items still Sending are updated, so a claim that was resolved as stale meanwhile is
    not overwritten. Temporary failures go back to Pending until `max_attempts` is reached;
    test items are never retried. A 5xx refusal also logs a hard bounce and flags the address.
    """
    now = timezone.now()
    for outcome in outcomes:
        _apply(outcome, now, config.max_attempts)
    sent = [outcome for outcome in outcomes if outcome.result == SENT]
    bounced = [outcome.item for outcome in outcomes if outcome.bounced and not outcome.item.is_test]
    with transaction.atomic():
        _update_items(sent, [outcome for outcome in outcomes if outcome.result != SENT], now)
        _insert_sent_log([outcome.item.pk for outcome in sent], mass_email.campaign_id, now)
        if bounced:
            _record_bounces(bounced, mass_email)
        if mass_email.store_sent_emails:
            SentEmail.objects.bulk_create(
                [SentEmail(queue_item=o.item, data=_as_text(o.rendered.data)) for o in sent],
                ignore_conflicts=True,
            )


def _update_items(sent: list[Outcome], others: list[Outcome], now: datetime.datetime) -> None:
    # One UPDATE for the sent items (Django's bulk_update costs more than the SMTP exchange);
    # failures are few, one UPDATE each. Only items still Sending: a claim resolved as stale
    # meanwhile belongs to another run now.
    claimed = EmailQueueItem.objects.filter(status=Status.SENDING)
    claimed.filter(id__in=[outcome.item.pk for outcome in sent]).update(
        status=Status.SENT, sent_at=now, attempts=F("attempts") + 1, last_error=""
    )
    for outcome in sent:
        if outcome.item.email != outcome.rendered.recipient:
            outcome.item.email = outcome.rendered.recipient
            EmailQueueItem.objects.filter(pk=outcome.item.pk).update(email=outcome.item.email)
    for outcome in others:
        item = outcome.item
        claimed.filter(pk=item.pk).update(
            status=item.status, attempts=item.attempts, last_error=item.last_error
        )


def _insert_sent_log(item_ids: list[int], campaign_id: int, now: datetime.datetime) -> None:
    """One Sent log row per item, copied from the queue rows in one INSERT … SELECT.

    Set-based because building model instances for the log costs as much as rendering; a row
    already there (an item sent again after a crash) is left alone.
    """
    if not item_ids:
        return
    copied = ["email_address_id", "email", "is_test", *(f"{n}_id" for n in TARGET_FIELDS)]
    given = {"id", "campaign_id", "action", "action_date", "queue_item_id", *copied}
    others = [f for f in CampaignLogRecord._meta.concrete_fields if f.column not in given]
    columns = ["campaign_id", "action", "action_date", "queue_item_id", *copied]
    columns += [field.column for field in others]
    values = ["%s", "%s", "%s", "q.id", *(f"q.{column}" for column in copied)]
    values += ["%s"] * len(others)
    params = [campaign_id, CampaignLogRecord.Action.SENT]
    params.append(connection.ops.adapt_datetimefield_value(now))
    params += [field.get_db_prep_save(field.get_default(), connection) for field in others]
    sql = (
        f"INSERT INTO {CampaignLogRecord._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM {EmailQueueItem._meta.db_table} q "
        f"WHERE q.id IN ({', '.join(['%s'] * len(item_ids))}) ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *item_ids])


def _apply(outcome: Outcome, now: datetime.datetime, max_attempts: int) -> None:
    item = outcome.item
    item.last_error = outcome.error
    item.attempts += outcome.attempted
    if outcome.result == SENT:
        item.status, item.sent_at = Status.SENT, now
    elif outcome.result == RETRY and not item.is_test and item.attempts < max_attempts:
        item.status = Status.PENDING
    else:
        item.status = Status.FAILED
        if outcome.result == RETRY:
            item.last_error = _("Gave up after %(count)s attempts: %(error)s") % {
                "count": item.attempts,
                "error": outcome.error,
            }
            outcome.result = FAILED


def _log_row(
    item: EmailQueueItem, mass_email: MassEmail, action: str, **extra
) -> CampaignLogRecord:
    row = CampaignLogRecord(
        campaign_id=mass_email.campaign_id,
        action=action,
        queue_item=item,
        email_address_id=item.email_address_id,
        email=item.email or (item.email_address.address if item.email_address else ""),
        is_test=item.is_test,
        **extra,
    )
    for name in EmailQueueItem.TARGET_FIELDS:
        setattr(row, f"{name}_id", getattr(item, f"{name}_id"))
    return row


def _record_bounces(items: list[EmailQueueItem], mass_email: MassEmail) -> None:
    hard = CampaignLogRecord.BounceType.HARD
    CampaignLogRecord.objects.bulk_create(
        [
            _log_row(item, mass_email, CampaignLogRecord.Action.BOUNCED, bounce_type=hard)
            for item in items
        ]
    )
    EmailAddress.objects.filter(id__in=[item.email_address_id for item in items]).update(
        invalid=True
    )


def _as_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


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
