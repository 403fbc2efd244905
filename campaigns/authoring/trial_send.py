"""Test send (spec §5): send a mass email now to people or addresses the marketer picks.

Test items are flagged `is_test`: the job never claims them, they skip the hourly window, never
change the mass email's status and stay out of statistics. They go through the same address
checks, renderer, SMTP transport (or the source's ESP API) and recording as real items, so a
test shows what recipients will get, and an SMTP or API error is reported in the server's words.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.authoring.rendering import CompiledMassEmail, RenderError
from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings
from campaigns.sending.chunks import send_chunk
from campaigns.sending.deferrals import DomainBackoff
from campaigns.sending.outcomes import FAILED, SENT, Outcome, record
from campaigns.sending.pools import pool_for
from campaigns.sending.transport import smtp_source
from crm.models import EmailAddress


class TestSendError(Exception):
    """The test could not be sent at all; the message says why in plain words."""

    __test__ = False  # not a pytest test class, despite the name


@dataclass(frozen=True)
class TestResult:
    """One test recipient: the address (or the person, if it has none) and the error, if any."""

    __test__ = False  # not a pytest test class, despite the name

    recipient: str
    error: str = ""

    @property
    def sent(self) -> bool:
        return not self.error


def send_test(
    mass_email: MassEmail, *, people: Iterable = (), addresses: Iterable[str] = ()
) -> list[TestResult]:
    """Send `mass_email` now to `people` (Users, Contacts, Leads, Accounts) and `addresses`.

    Returns one result per recipient, in the order given. Raises TestSendError when the mass
    email is not Draft or Pending, nobody was chosen, or the template cannot be rendered.
    """
    if not mass_email.is_editable:
        raise TestSendError(_("Test emails are sent from Draft or Pending mass emails."))
    items = _create_test_items(mass_email, list(people), list(addresses))
    if not items:
        raise TestSendError(_("Choose at least one recipient."))
    try:
        compiled = CompiledMassEmail.compile_variants(mass_email, is_test=True)
    except RenderError as exc:
        record(
            [Outcome(item, FAILED, str(exc), attempted=False) for item in items],
            mass_email,
            MassEmailSettings.load(),
        )
        raise TestSendError(str(exc)) from exc
    pool = pool_for(smtp_source(mass_email), DomainBackoff())
    try:
        outcomes, stopped, unsent = send_chunk(items, compiled, pool)
    finally:
        pool.close()
    outcomes += [Outcome(item, FAILED, str(stopped), attempted=False) for item in unsent]
    record(outcomes, mass_email, MassEmailSettings.load())
    return [_result(outcome) for outcome in outcomes]


def _create_test_items(mass_email: MassEmail, people: list, addresses: list[str]):
    now = timezone.now()
    items = []
    for person in people:
        item = EmailQueueItem(email_address=_address_of(person))
        item.set_target(person)
        items.append(item)
    for address in addresses:
        items.append(EmailQueueItem(email_address=EmailAddress.for_address(address)))
    variants = list(mass_email.variants.order_by("letter"))
    if variants:  # an A/B test: each recipient gets every variant, to compare them
        items = [_as_variant(item, variant) for item in items for variant in variants]
    for item in items:
        item.mass_email = mass_email
        item.is_test = True
        item.status = EmailQueueItem.Status.SENDING
        item.claimed_at = now
    return EmailQueueItem.objects.bulk_create(items)


def _as_variant(item: EmailQueueItem, variant) -> EmailQueueItem:
    copy = EmailQueueItem(email_address=item.email_address, variant=variant)
    target = item.target
    if target is not None:
        copy.set_target(target)
    return copy


def _address_of(person) -> EmailAddress | None:
    if hasattr(person, "email_address_id"):
        return person.email_address
    # Django's User keeps its address as text; the shared row is found by its lower-cased form.
    return EmailAddress.for_address(person.email) if person.email else None


def _result(outcome: Outcome) -> TestResult:
    item = outcome.item
    recipient = item.email_address.address if item.email_address else str(item.target)
    if item.variant_id:
        recipient = f"{recipient} ({item.variant})"
    return TestResult(recipient, "" if outcome.result == SENT else outcome.error)
