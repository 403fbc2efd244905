"""One worker's share of a run: claim chunks of each In Process mass email, render them, hand
them to the source's sessions, record each chunk once all its answers are in.

Claiming, loading, rendering and recording run on this thread; the SMTP exchanges on the
source's session threads (campaigns.sending.sessions). While the sessions send one chunk, this
thread claims and renders the next and hands it over too, so at most IN_FLIGHT chunks are
claimed and not yet recorded: that is also the most a worker killed mid-run leaves Sending.
The claims of the chunks in flight are renewed while they take long (claims.renew).
"""

import datetime
import functools
import logging
import traceback
from collections import deque

from django.db import DatabaseError, transaction
from django.utils.translation import gettext as _

from campaigns.authoring.rendering import CompiledMassEmail, RenderError
from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings
from campaigns.sending import claims
from campaigns.sending.chunks import Chunk, finish_chunk, prepare_chunk, submit_chunk
from campaigns.sending.deferrals import DomainBackoff
from campaigns.sending.outcomes import SENT, WAITING, record
from campaigns.sending.report import SendReport, named
from campaigns.sending.sessions import SessionPool
from campaigns.sending.transport import ConfigurationProblem
from crm import events, placeholders

logger = logging.getLogger(__name__)
Status = EmailQueueItem.Status
# Items per claim and per recording transaction, at least; more with many connections.
CHUNK_SIZE = 100
MAX_CHUNK_SIZE = 1000
# Chunks handed to the sessions and not yet recorded: enough to keep every session busy while
# the next chunk is claimed and rendered.
IN_FLIGHT = 2
# Columns neither the address check nor the renderer reads; skipping them halves loading time.
UNUSED_ITEM_FIELDS = ("created_at", "claimed_at", "sent_at", "last_error", "next_attempt_at")
UNUSED_ITEM_FIELDS += ("esp_message_id",)
LOADED_RELATIONS = ("email_address", "account", "contact", "contact__account", "lead", "user")
LOADED_RELATIONS += ("contact__account__email_address",)
# What a person's name and address are made of (Person.name, Person.emailAddress, a User's).
PERSON_NAME_PARTS = {"first_name", "last_name", "username", "email", "email_address_id", "name"}
# Contact.account, read through for {Contact.account.name} and {Contact.accountName}.
PERSON_NAME_PARTS |= {"account_id"}


def chunk_size(connections: int) -> int:
    """Items per claim for a source with `connections` sessions: four messages a session, so
    that the sessions never wait for the next chunk; at least CHUNK_SIZE, at most 1,000."""
    return min(MAX_CHUNK_SIZE, max(CHUNK_SIZE, 4 * connections))


class Portion:
    """One worker's part of one mass email in one run.

    Stops when the mass email is paused or canceled (claims are only for In Process ones), when
    the run's budget or the hourly window is used up, or when its server stops answering.
    """

    def __init__(
        self,
        mass_email: MassEmail,
        pool: SessionPool,
        config: MassEmailSettings,
        report: SendReport,
        now: datetime.datetime,
        run_id: int | None = None,
        backoff: DomainBackoff | None = None,
        on_full_chunk=None,
    ):
        self.mass_email, self.pool, self.config = mass_email, pool, config
        self.report, self.now, self.run_id = report, now, run_id
        self.backoff = backoff or pool.backoff
        self.on_full_chunk = on_full_chunk or (lambda: None)
        self.size = chunk_size(pool.connections)
        self.unsent: set[int] = set()  # claimed, not yet handed to the sessions
        self.in_flight: deque[Chunk] = deque()  # handed to the sessions, not recorded yet
        self.more_work = False  # a claim came back full: there may be more than this worker
        self.stopped = False  # its server stopped (reported once)
        self.after = 0  # fresh items are claimed from above this id (claims.Claimed)
        self.given_back = 0  # of the run's batch budget, for items left for their domain

    def send(self) -> None:
        """Send the portion; an exception it did not expect is reported, never raised."""
        try:
            compiled = CompiledMassEmail.compile_variants(self.mass_email)
        except RenderError as exc:
            fail_mass_email(self.mass_email, str(exc))
            failed = _("%(name)s failed: %(error)s")
            self.report.problems.append(failed % named(self.mass_email, exc))
            return
        try:
            if self._send_chunks(compiled):
                complete_if_done(self.mass_email)
        except Exception as exc:  # noqa: BLE001  one mass email's breakage must not stop the others
            self._crashed(exc)

    def _send_chunks(self, compiled) -> bool:
        """Claim, render and hand over chunks, recording each when done; False if the server
        stopped (the problem is reported). Recording a chunk and claiming the next share one
        transaction: one commit a chunk."""
        ids = self._claim()
        while True:
            while ids:
                self._hand_over(ids, compiled)
                ids = self._claim() if len(self.in_flight) < IN_FLIGHT else None
            if not self.in_flight:
                return not self.stopped
            exhausted = ids is not None  # the last claim found nothing (None: not tried)
            self._wait_for_oldest()
            with transaction.atomic():
                given_back = self._finish_oldest()
                # Items given back leave room in the run's batch, even after a claim found none.
                if (given_back or not exhausted) and not self.stopped:
                    ids = self._claim()
            if self.stopped:
                while self.in_flight:  # the server stopped: their messages come back unsent
                    self._wait_for_oldest()
                    self._finish_oldest()
                return False

    def _claim(self) -> list[int]:
        claimed = claims.claim_portion(
            self.mass_email.pk,
            self.size,
            self.config.max_per_hour,
            self.now,
            self.run_id,
            after=self.after,
        )
        self.after = claimed.last_fresh
        return claimed.ids

    def _hand_over(self, ids: list[int], compiled) -> None:
        self.unsent.update(ids)
        chunk = prepare_chunk(load_items(ids, self.mass_email), compiled, self.backoff.waiting)
        self.in_flight.append(submit_chunk(chunk, self.pool))
        self.unsent.difference_update(ids)
        self.more_work = self.more_work or len(ids) == self.size

    def _give_back(self, waiting: int) -> int:
        """Give the run's batch budget back for `waiting` items left for their deferring
        domain, up to max per batch in all for this portion: a run then claims at most twice
        its batch, however much of the queue waits for a deferring domain. How many."""
        if self.config.max_per_batch is not None:
            waiting = min(waiting, max(0, self.config.max_per_batch - self.given_back))
        claims.give_back(self.run_id, waiting)
        self.given_back += waiting
        return waiting

    def _wait_for_oldest(self) -> None:
        """Wait for every answer of the oldest chunk, renewing the lease of every chunk in
        flight each third of it, outside any transaction, so that other runs see it: a chunk
        that takes long to send is never taken for a dead worker's (claims.renew)."""
        handover = self.in_flight[0].handover
        while handover is not None and not handover.wait(claims.LEASE.total_seconds() / 3):
            ids = [item.pk for chunk in self.in_flight for item in chunk.items]
            claims.renew(ids, self.now)

    def _finish_oldest(self) -> int:
        """Wait for the oldest chunk and record it; a server that stopped is reported once
        (`stopped`). The chunk stays in flight until it is recorded, for _crashed to see.
        Returns how many of its items, left for their deferring domain, were given back to the
        run's batch budget."""
        outcomes, stopped, unsent = finish_chunk(self.in_flight[0])
        if unsent:
            claims.release([item.pk for item in unsent], self.run_id)
        record(outcomes, self.mass_email, self.config)
        waiting = self._give_back(sum(outcome.result == WAITING for outcome in outcomes))
        self.backoff.remember(self.mass_email)
        self.report.add(outcomes)
        if self.more_work and any(outcome.result == SENT for outcome in outcomes):
            # More work than one worker and a server that takes it: others may help. (Not
            # before: workers asking each other while the server is down would never stop.)
            self.on_full_chunk()
        self.in_flight.popleft()
        if stopped is not None and not self.stopped:
            report_stop(self.mass_email, stopped, self.report)
        self.stopped = self.stopped or stopped is not None
        return waiting

    def _crashed(self, exc: Exception) -> None:
        # Messages a server accepted but that were not recorded stay Sending for the lease
        # (at-least-once); every other claimed item was not delivered and is Pending again now.
        logger.exception("Sending %s broke", self.mass_email)
        not_sent = set(self.unsent) | self._withdraw_in_flight()
        try:
            claims.release(sorted(not_sent), self.run_id)
        except DatabaseError:
            logger.exception("Could not release %s items; the lease will", len(not_sent))
        self.report.crashes.append(
            f"{self.mass_email.name} (#{self.mass_email.pk}):\n{traceback.format_exc()}"
        )
        stopped = _(
            "%(name)s stopped by an unexpected error; its unsent items are Pending: %(error)s"
        )
        error = f"{type(exc).__name__}: {exc}"
        self.report.problems.append(stopped % named(self.mass_email, error))

    def _withdraw_in_flight(self) -> set[int]:
        """Take back what the sessions have not started, wait for the rest; the ids of the
        items no server accepted."""
        not_sent = set()
        for chunk in self.in_flight:
            self.pool.withdraw([delivery for _i, _m, delivery in chunk.sending])
            if chunk.handover is not None:
                chunk.handover.wait()
            not_sent |= {outcome.item.pk for outcome in chunk.decided}
            for item, _message, delivery in chunk.sending:
                if delivery.error is not None:
                    not_sent.add(item.pk)
        self.in_flight.clear()
        return not_sent


def load_items(ids: list[int], mass_email: MassEmail) -> list[EmailQueueItem]:
    """The claimed items with what the address check and the renderer read, in one query."""
    items = list(
        EmailQueueItem.objects.filter(id__in=ids)
        .select_related(*LOADED_RELATIONS)
        .only(*loaded_fields())
        .order_by("id")
    )
    for item in items:
        item.mass_email = mass_email
        target = item.target
        # {Person.emailAddress} reads the person's own address: most often the item's row.
        if (
            target is not None
            and getattr(target, "email_address_id", None) == item.email_address_id
        ):
            target.email_address = item.email_address
    return items


@functools.cache
def loaded_fields() -> tuple[str, ...]:
    """The columns load_items reads: the item's own, its address's flags, and of each kind of
    person the fields a placeholder can name (crm.placeholders.ATTRIBUTES, and those `name` is
    made of). Half the columns of a full load, so half its time; a field left out would still
    load, one query per item, so none a placeholder reads may be."""
    item_fields = {f.attname for f in EmailQueueItem._meta.concrete_fields}
    fields = sorted(item_fields - set(UNUSED_ITEM_FIELDS))
    fields += [f"email_address__{name}" for name in ("address", "opt_out", "invalid")]
    wanted = set(placeholders.ATTRIBUTES.values()) | PERSON_NAME_PARTS
    for relation in ("account", "contact", "lead", "user"):
        model = EmailQueueItem._meta.get_field(relation).related_model
        fields += _person_fields(model, relation, wanted)
    account = EmailQueueItem._meta.get_field("account").related_model
    fields += _person_fields(account, "contact__account", wanted)
    fields += ["contact__account__email_address__address"]  # {Contact.account.emailAddress}
    return tuple(fields)


def _person_fields(model, path: str, wanted: set[str]) -> list[str]:
    names = {field.attname for field in model._meta.concrete_fields}
    return [f"{path}__{name}" for name in sorted(names & wanted)]


def complete_if_done(mass_email: MassEmail) -> bool:
    """Mark an In Process mass email Complete when no item is Pending or Sending any more."""
    if mass_email.automated:  # an automation step's mailing takes people for as long as it runs
        return False
    open_items = mass_email.queue_items.filter(
        is_test=False, status__in=[Status.PENDING, Status.SENDING, Status.HELD]
    )
    if open_items.exists():
        return False
    with transaction.atomic():
        done = MassEmail.objects.filter(pk=mass_email.pk, status=MassEmail.Status.IN_PROCESS)
        if not done.update(status=MassEmail.Status.COMPLETE):
            return False
        data = {"mass_email_id": mass_email.pk, "campaign_id": mass_email.campaign_id}
        events.record_event(events.MASS_EMAIL_COMPLETED, data)
    return True


def fail_mass_email(mass_email: MassEmail, reason: str) -> None:
    """Mark a mass email Failed with the reason shown in the admin (e.g. a rendering error)."""
    MassEmail.objects.filter(pk=mass_email.pk).update(
        status=MassEmail.Status.FAILED, failure_reason=reason
    )
    logger.warning("Mass email %s failed: %s", mass_email.pk, reason)


def report_stop(mass_email: MassEmail, stopped: Exception, report: SendReport) -> None:
    if isinstance(stopped, ConfigurationProblem):
        report.configuration_errors.append(
            _("SMTP settings of %(name)s: %(error)s") % named(mass_email, stopped)
        )
    else:
        report.problems.append(
            _("%(name)s paused until the next run: %(error)s") % named(mass_email, stopped)
        )
