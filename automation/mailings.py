"""A send step's mailings: the mass email each entry round's messages go out as (In Process for
as long as the automation runs), and what happens when one stops sending.

Only the automation starts and stops them: the mass email's Pause, Resume and Cancel leave an
automated one as it is (campaigns/sending/job.py). The send job marks one Failed when it cannot
render it; then its messages would never go out, so nobody is queued to it: the automation is
paused (at the next tick, or as soon as a send step meets it), its page says which email failed
and why, the people wait at that step, and Activate (after the template is fixed) checks that
it renders and sets it In Process again, sending what was queued to it meanwhile."""

import logging

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from automation import people as persons
from automation.models import Automation, Enrolment, Step, StepMailing
from campaigns.authoring.rendering import CompiledMassEmail, RenderError
from campaigns.models import EmailQueueItem, MassEmail

logger = logging.getLogger(__name__)
SENDING = MassEmail.Status.IN_PROCESS


class MailingStopped(Exception):
    """A send step's mailing is not In Process: what is queued to it would never go out."""

    def __init__(self, step: Step, mass_email: MassEmail):
        self.step, self.mass_email = step, mass_email
        super().__init__(why_stopped(step, mass_email))


def why_stopped(step: Step, mass_email: MassEmail) -> str:
    """The reason the automation's page gives, in the marketer's words."""
    names = {"step": step.order, "name": mass_email.name, "reason": mass_email.failure_reason}
    if mass_email.status == MassEmail.Status.FAILED:
        return (
            _(
                "The email of step %(step)s (mass email “%(name)s”) failed: %(reason)s Fix it, "
                "then activate the automation again: the people waiting at the step get it then."
            )
            % names
        )
    names["status"] = mass_email.get_status_display()
    return (
        _(
            "The email of step %(step)s (mass email “%(name)s”) is %(status)s, so it would not go "
            "out. Activate the automation again to send it."
        )
        % names
    )


def mailing_for(step: Step, round: int) -> MassEmail:
    """The step's mailing for people on their `round`-th entry, made on first use; raises
    MailingStopped when it is not In Process."""
    found = StepMailing.objects.filter(step=step, round=round).select_related("mass_email").first()
    if found is not None:
        mass_email = found.mass_email
        if mass_email.status != SENDING:
            raise MailingStopped(step, mass_email)
        if mass_email.email_template_id != step.email_template_id:  # the step was edited
            mass_email.email_template_id = step.email_template_id
            mass_email.save(update_fields=["email_template"])
        return mass_email
    automation = step.automation
    name = f"{automation.name} · {step.order}. {step.email_template}"
    try:
        with transaction.atomic():
            mass_email = MassEmail.objects.create(
                campaign=automation.campaign,
                name=name if round == 1 else f"{name} ({round})",
                status=SENDING,
                email_template=step.email_template,
                automated=True,
            )
            StepMailing.objects.create(step=step, round=round, mass_email=mass_email)
            return mass_email
    except IntegrityError:  # another worker made it first
        return mailing_for(step, round)


def enqueue(step: Step, enrolment: Enrolment, person) -> tuple[str, EmailQueueItem | None]:
    """Queue the person to the step's mailing: the send job sends it in its next run, first.
    Raises MailingStopped when the mailing is not In Process."""
    address = persons.address_of(person)
    if address is None:
        return "no email address", None
    mass_email = mailing_for(step, enrolment.entry)
    item = EmailQueueItem(mass_email=mass_email, email_address=address, email=address.address)
    item.set_target(person)
    try:
        with transaction.atomic():
            item.save()
    except IntegrityError:  # someone sharing the address got this round's email already
        return "already queued to this address", None
    return "queued", item


def stopped(automations) -> list[StepMailing]:
    """The mailings of these automations that are not In Process, with their steps."""
    return list(
        StepMailing.objects.filter(step__automation__in=automations)
        .exclude(mass_email__status=SENDING)
        .select_related("step__automation", "mass_email")
        .order_by("step__automation_id", "step__version", "step__order", "round")
    )


def pause_for(stop: MailingStopped) -> str:
    """Pause the automation whose mailing stopped; the reason, for the tick's report."""
    automation = stop.step.automation
    Automation.objects.filter(pk=automation.pk).update(status=Automation.Status.PAUSED)
    automation.status = Automation.Status.PAUSED
    logger.warning("Automation %s paused: %s", automation.pk, stop)
    return _("%(name)s is paused: %(reason)s") % {"name": automation, "reason": stop}


def pause_where_stopped() -> list[str]:
    """Pause every active automation one of whose mailings stopped; the reasons."""
    active = Automation.objects.filter(status=Automation.Status.ACTIVE)
    paused: dict[int, str] = {}
    for mailing in stopped(active):
        if mailing.step.automation_id not in paused:
            stop = MailingStopped(mailing.step, mailing.mass_email)
            paused[mailing.step.automation_id] = pause_for(stop)
    return list(paused.values())


def restart(automation: Automation) -> None:
    """Set the automation's stopped mailings In Process again, once each renders; raises
    RenderError (naming the step) for one that still cannot."""
    mailings = stopped([automation])
    for mailing in mailings:
        try:
            CompiledMassEmail.compile_variants(mailing.mass_email)
        except RenderError as exc:
            raise RenderError(
                _("The email of step %(step)s still cannot be rendered: %(error)s")
                % {"step": mailing.step.order, "error": exc}
            ) from exc
    MassEmail.objects.filter(pk__in=[m.mass_email_id for m in mailings]).update(
        status=SENDING, failure_reason=""
    )
