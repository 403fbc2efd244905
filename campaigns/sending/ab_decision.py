"""Choosing an A/B test's winner, and sending the rest with it (campaigns.results.winner).

The sending job calls `decide_due_tests` before it claims anything: a test is due once none of
its test messages is Pending or Sending any more and the wait has passed since the last of them
went out. The decision is taken once (a conditional update of the mass email: two runs cannot
both take it); the held items then get the winner and become Pending in the same transaction,
so the next portions send them under the same hourly limit and batch size. Only In Process mass
emails are decided: a paused one waits until it is resumed, a canceled one never sends the rest.
"""

import datetime
import logging

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.models import EmailQueueItem, MassEmail, MassEmailVariant
from campaigns.results.winner import decide, variant_figures
from campaigns.sending.queue import release_held

logger = logging.getLogger(__name__)
Item = EmailQueueItem.Status
State = MassEmail.TestState


def due_at(mass_email: MassEmail) -> datetime.datetime | None:
    """When the test may be decided: the wait after its last test message went out; None while
    test messages are still on their way. A test whose share sent nothing is due at once."""
    test_items = EmailQueueItem.objects.filter(mass_email=mass_email, is_test=False, in_test=True)
    if test_items.filter(status__in=[Item.PENDING, Item.SENDING]).exists():
        return None
    last = test_items.aggregate(last=Max("sent_at"))["last"]
    if last is None:
        return timezone.now() - datetime.timedelta(seconds=1)
    return last + datetime.timedelta(hours=mass_email.test_wait_hours)


def decide_due_tests(now: datetime.datetime | None = None) -> list[str]:
    """Decide every In Process test whose wait has passed; a sentence per decision, for the
    job log (the reasoning itself is kept on the mass email)."""
    now = now or timezone.now()
    notes = []
    testing = MassEmail.objects.filter(status=MassEmail.Status.IN_PROCESS, test_state=State.TESTING)
    for mass_email in testing:
        due = due_at(mass_email)
        if due is None or due > now:
            continue
        notes.append(decide_test(mass_email, now))
    return notes


def decide_test(mass_email: MassEmail, now: datetime.datetime) -> str:
    """Apply the winner rule to a test now; the sentence for the job log."""
    figures = variant_figures(mass_email)
    decision = decide(
        figures,
        mass_email.test_metric,
        mass_email.test_confidence,
        mass_email.test_min_sample,
        mass_email.test_fallback,
    )
    with transaction.atomic():
        state = State.DECIDED if decision.winner is not None else State.WAITING
        taken = MassEmail.objects.filter(pk=mass_email.pk, test_state=State.TESTING).update(
            test_state=state,
            test_winner=decision.winner,
            test_decided_at=now if decision.winner is not None else None,
            test_reasoning=decision.reasoning,
        )
        released = (
            release_held(mass_email.pk, decision.winner.pk) if taken and decision.winner else 0
        )
    if decision.winner is None:
        note = _("%(name)s: no winner chosen; waiting for a person.") % {"name": mass_email.name}
    else:
        note = ngettext(
            "%(name)s: %(variant)s wins; %(count)d held message now goes out.",
            "%(name)s: %(variant)s wins; %(count)d held messages now go out.",
            released,
        ) % {
            "name": mass_email.name,
            "variant": decision.winner,
            "count": released,
        }
    logger.info("A/B test of mass email %s: %s\n%s", mass_email.pk, note, decision.reasoning)
    return f"{note}\n{decision.reasoning}"


class CannotChoose(ValueError):
    """The winner cannot be chosen by hand now; the message says why."""


def choose_winner(mass_email: MassEmail, variant: MassEmailVariant, user=None) -> int:
    """A person chooses the winner (manual metric, or no clear winner): the held items get it;
    how many. Raises CannotChoose once a winner is chosen or for another mass email's variant."""
    if variant.mass_email_id != mass_email.pk:
        raise CannotChoose(_("That variant belongs to another mass email."))
    who = getattr(user, "username", "") or _("someone")
    with transaction.atomic():
        locked = MassEmail.objects.select_for_update().get(pk=mass_email.pk)
        if locked.test_state not in (State.TESTING, State.WAITING):
            raise CannotChoose(_("This test has no winner to choose now."))
        reasoning = locked.test_reasoning
        chosen = _("%(variant)s chosen by %(user)s.") % {"variant": variant, "user": who}
        MassEmail.objects.filter(pk=locked.pk).update(
            test_state=State.DECIDED,
            test_winner=variant,
            test_decided_at=timezone.now(),
            test_reasoning=f"{reasoning}\n{chosen}".strip(),
        )
        return release_held(locked.pk, variant.pk)
