"""A chunk of claimed items on its way: each address re-checked, each message rendered, the
messages handed to the source's sessions, and each answer turned into an outcome to record.

One item, one fate: an address that must not be mailed, a value that cannot be rendered, any
refusal or deferral decides that item alone, with a sentence for the marketer.
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from campaigns.authoring.rendering import CompiledMassEmail, RenderedMessage, RenderError
from campaigns.models import EmailQueueItem
from campaigns.sending.deferrals import domain_of
from campaigns.sending.outcomes import FAILED, RETRY, SENT, WAITING, Outcome
from campaigns.sending.sessions import Delivery, DomainWaiting, Handover, SessionPool
from campaigns.sending.transport import (
    AddressRefused,
    ConnectionProblem,
    MessageFailed,
    PermanentRejection,
    TemporaryRejection,
)
from crm import addresses


@dataclass
class Chunk:
    """Claimed items: decided without sending, rendered, handed to the sessions."""

    items: list[EmailQueueItem]
    decided: list[Outcome] = field(default_factory=list)
    rendered: list[tuple[EmailQueueItem, RenderedMessage]] = field(default_factory=list)
    sending: list[tuple[EmailQueueItem, RenderedMessage, Delivery]] = field(default_factory=list)
    handover: Handover | None = None


def prepare_chunk(items: list[EmailQueueItem], compiled: CompiledMassEmail, waiting=None) -> Chunk:
    """Re-check each address and render each message; an item that cannot be is decided. An
    item whose domain is deferring this run (`waiting(domain)`, the pool's backoff) waits for a
    later one without being rendered."""
    chunk = Chunk(items)
    for item in items:
        problem = address_problem(item, item.mass_email.campaign.is_informational)
        if problem:
            chunk.decided.append(Outcome(item, FAILED, problem, attempted=False))
            continue
        domain = domain_of(item.email or item.email_address.address)
        if waiting is not None and waiting(domain):
            chunk.decided.append(waiting_outcome(item, domain))
            continue
        try:
            chunk.rendered.append((item, compiled.render(item)))
        except Exception as exc:  # noqa: BLE001  a value that breaks one message fails it alone
            reason = str(exc) if isinstance(exc, RenderError) else f"{type(exc).__name__}: {exc}"
            message = _("The message could not be rendered: %(error)s") % {"error": reason}
            chunk.decided.append(Outcome(item, FAILED, message, attempted=False))
    return chunk


def submit_chunk(chunk: Chunk, pool: SessionPool) -> Chunk:
    """Hand the rendered messages to the source's sessions, in order; returns at once."""
    deliveries = []
    chunk.handover = Handover(len(chunk.rendered))
    for item, message in chunk.rendered:
        delivery = Delivery(
            message.envelope_from,
            message.smtp_recipient or message.recipient,
            message.data,
            domain_of(message.recipient),
            retry=item.attempts > 0,
            handover=chunk.handover,
        )
        chunk.sending.append((item, message, delivery))
        deliveries.append(delivery)
    pool.submit(deliveries)
    return chunk


def finish_chunk(chunk: Chunk) -> tuple[list[Outcome], Exception | None, list[EmailQueueItem]]:
    """Wait for every answer of the chunk. Returns every outcome, the server problem that
    stopped part of it or None, and the items not sent because of it."""
    outcomes, unsent, stopped = list(chunk.decided), [], None
    if chunk.handover is not None:
        chunk.handover.wait()
    for item, message, delivery in chunk.sending:
        outcome = _outcome(item, message, delivery.error)
        if isinstance(outcome, Outcome) and outcome.result == SENT:
            outcome.esp_message_id = delivery.message_id
        if isinstance(outcome, ConnectionProblem):  # the server is down: not sent, no attempt
            stopped = stopped or outcome
            unsent.append(item)
        else:
            outcomes.append(outcome)
    return outcomes, stopped, unsent


def send_chunk(
    items: list[EmailQueueItem], compiled: CompiledMassEmail, pool: SessionPool
) -> tuple[list[Outcome], Exception | None, list[EmailQueueItem]]:
    """Check, render and send claimed items now (test sends); as finish_chunk returns."""
    return finish_chunk(submit_chunk(prepare_chunk(items, compiled), pool))


def _outcome(item: EmailQueueItem, message: RenderedMessage, error: BaseException | None):
    try:
        if error is not None:
            raise error
    except ConnectionProblem as exc:
        return exc
    except DomainWaiting as exc:
        return waiting_outcome(item, str(exc))
    except TemporaryRejection as exc:
        retry_after = getattr(exc, "retry_after", None)  # an ESP's 429 said how long
        return Outcome(item, RETRY, str(exc), rendered=message, retry_after=retry_after)
    except PermanentRejection as exc:
        return Outcome(
            item, FAILED, str(exc), bounced=True, rendered=message, reply=exc.reply, code=exc.code
        )
    except (AddressRefused, MessageFailed) as exc:
        return Outcome(item, FAILED, str(exc), attempted=False, rendered=message)
    return Outcome(item, SENT, rendered=message)


def waiting_outcome(item: EmailQueueItem, domain: str) -> Outcome:
    waiting = _("%(domain)s is deferring messages; this one waits for a later run.")
    return Outcome(item, WAITING, waiting % {"domain": domain}, attempted=False)


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
