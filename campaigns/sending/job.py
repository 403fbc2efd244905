"""The sending job (spec §4, §13): one run resolves stale claims, builds the due queues, then
sends the portions, with as many workers as there are to help.

`run_send_job` is what the Celery beat entry "Send Mass Emails" and `manage.py send_mass_emails`
run. The run sends itself and, once it has claimed a full chunk, asks one more worker to help
(the task `campaigns.tasks.send_portions`); each helper that claims a full chunk asks for one
more, so with N idle workers all N are sending within seconds, and the chain ends when a helper
finds nothing left to claim. The claims (campaigns.sending.claims) keep every item to one
worker, and the hourly window and the run's batch budget hold for all of them together. On
SQLite, which runs one worker, nobody is asked. See docs/delivery.md for the guarantees.
"""

import datetime
import logging
import os
import socket

from django.conf import settings
from django.db import connection
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings, SendingRun
from campaigns.sending import claims, window
from campaigns.sending.ab_decision import decide_due_tests
from campaigns.sending.deferrals import DomainBackoff
from campaigns.sending.pools import SessionPools
from campaigns.sending.portion import Portion
from campaigns.sending.queue import build_due_queues
from campaigns.sending.report import SendReport
from crm.celery import run_task
from crm.jobs import SEND_MASS_EMAILS, SEND_MASS_EMAILS_HELPING, record_run
from crm.models import JobRun

logger = logging.getLogger(__name__)
PAUSABLE = (MassEmail.Status.PENDING, MassEmail.Status.IN_PROCESS)
CANCELABLE = (*PAUSABLE, MassEmail.Status.DRAFT, MassEmail.Status.PAUSED)
# This worker process, as the job log names it.
WORKER = f"{socket.gethostname()}:{os.getpid()}"
# Runs older than this are forgotten (their budgets can no longer be claimed against).
KEEP_RUNS = datetime.timedelta(days=7)


class SendConfigurationError(Exception):
    """The job could not send because SMTP settings are wrong; the message says which."""


def run_recorded_send_job() -> SendReport:
    """Run the job inside the "Send Mass Emails" job log; raises SendConfigurationError.

    A portion that broke with an unexpected exception leaves its traceback in the run's error
    and the run Failed, after every other mass email was sent.
    """
    with record_run(SEND_MASS_EMAILS) as run:
        announce(run)
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
    report.notes += decide_due_tests(now)
    SendingRun.objects.filter(started_at__lt=now - KEEP_RUNS).delete()
    window.forget_old(now)
    run = SendingRun.objects.create(started_at=now, budget=config.max_per_batch)
    send_portions(run, report, config)
    logger.info("Send Mass Emails: %s", report.summary())
    return report


def run_recorded_help(run_id: int) -> SendReport:
    """A worker's help with run `run_id`, logged as "Send Mass Emails (helping)"."""
    report = SendReport()
    with record_run(SEND_MASS_EMAILS_HELPING) as job_run:
        announce(job_run)
        run = SendingRun.objects.filter(pk=run_id).first()
        if run is not None:
            send_portions(run, report, MassEmailSettings.load())
        job_run.summary = report.summary()
        job_run.error = "\n\n".join(report.crashes)
    return report


def announce(job_run: JobRun) -> None:
    """Say in the job log, while it runs, which worker process is sending (host and pid)."""
    job_run.summary = _("Sending on %(worker)s…") % {"worker": WORKER}
    job_run.save(update_fields=["summary"])


def send_portions(run: SendingRun, report: SendReport, config: MassEmailSettings) -> None:
    """This worker's part of `run`: every In Process mass email, automation steps' first (a
    welcome email never waits behind a large mass email for more than one run), then oldest
    start time first, through one pool of sessions per sending source."""
    pools = SessionPools(DomainBackoff(run_start=run.started_at))
    helpers = Helpers(run) if hands_out() else None
    try:
        in_process = MassEmail.objects.filter(status=MassEmail.Status.IN_PROCESS)
        for mass_email in in_process.select_related("campaign", "smtp_account").order_by(
            F("automated").desc(), F("start_at").asc(nulls_first=True), "id"
        ):
            if waits_for_winner(mass_email):
                continue
            pool = pools.for_mass_email(mass_email)
            if pool.broken:
                continue
            on_full_chunk = helpers.ask if helpers else None
            Portion(
                mass_email, pool, config, report, run.started_at, run.pk, None, on_full_chunk
            ).send()
    finally:
        pools.close()


def waits_for_winner(mass_email: MassEmail) -> bool:
    """An A/B test with nothing to send until its winner is chosen: no portion (nor the
    compiling of every variant) for it this run."""
    if mass_email.test_state not in (MassEmail.TestState.TESTING, MassEmail.TestState.WAITING):
        return False
    pending = EmailQueueItem.objects.filter(
        mass_email=mass_email, is_test=False, status=EmailQueueItem.Status.PENDING
    )
    return not pending.exists()


def hands_out() -> bool:
    """Whether a run asks other workers to help: not on SQLite, which runs one worker."""
    return connection.vendor != "sqlite" and getattr(settings, "MASS_EMAIL_HAND_OUT", True)


class Helpers:
    """Asks one more worker to help with a run, once per sender: the next asks for the next."""

    def __init__(self, run: SendingRun):
        self.run = run
        self.asked = False

    def ask(self) -> None:
        if self.asked:
            return
        self.asked = True
        # A request no worker took within the lease is stale: the next run hands out afresh.
        run_task("campaigns.tasks.send_portions", self.run.pk, expires=claims.LEASE.seconds)


def pause(mass_emails: QuerySet) -> int:
    """Pause Pending and In Process mass emails: no queue is built, nothing is sent; how many.

    A run already sending finishes the chunks it has handed to its sessions and stops. An
    automation step's mailing is left as it is, here as in resume and cancel: its automation
    starts and stops it (automation/mailings.py).
    """
    controlled = mass_emails.filter(automated=False, status__in=PAUSABLE)
    return controlled.update(status=MassEmail.Status.PAUSED)


def resume(mass_emails: QuerySet) -> int:
    """Resume paused mass emails where they stopped: In Process if queued, else Pending."""
    paused = mass_emails.filter(automated=False, status=MassEmail.Status.PAUSED)
    queued = Exists(EmailQueueItem.objects.filter(mass_email=OuterRef("pk"), is_test=False))
    resumed = paused.filter(queued).update(status=MassEmail.Status.IN_PROCESS)
    return resumed + paused.update(status=MassEmail.Status.PENDING)


def cancel(mass_emails: QuerySet) -> int:
    """Cancel mass emails for good: what is not sent yet is never sent; how many."""
    controlled = mass_emails.filter(automated=False, status__in=CANCELABLE)
    return controlled.update(status=MassEmail.Status.CANCELED)
