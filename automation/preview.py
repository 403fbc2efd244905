""" "Preview as": what a given person would receive from an automation, and when, if they
entered now (conditions on opens and clicks cannot be known ahead: both ways are shown)."""

import datetime
from dataclasses import dataclass

from django.utils.translation import gettext as _

from automation import clock
from automation.engine import condition_holds, due_on_arrival
from automation.models import Automation, Enrolment, Step
from crm import placeholders


@dataclass(frozen=True)
class PreviewLine:
    order: int
    at: datetime.datetime
    what: str
    subject: str = ""
    template_id: int | None = None  # a send step's: its preview as the person shows the email


def subject_for(step: Step, person) -> str:
    """The step's subject with the person's values (and today's) filled in."""
    parts = []
    for piece in placeholders.split(step.email_template.subject):
        if isinstance(piece, str):
            parts.append(piece)
        elif placeholders.is_person_field(piece.name):
            value = placeholders.person_value(piece.name, person)
            parts.append(placeholders.with_fallback(value, piece.fallback))
        elif piece.name in ("today", "now", "currentYear"):
            parts.append(placeholders.builtin_value(piece.name))
    return "".join(parts)


def preview(automation: Automation, person, now: datetime.datetime | None = None) -> list:
    """The steps this person would go through from `now`, each with its time."""
    at = now or clock.now()
    steps = list(automation.current_steps())  # what someone entering now goes through
    by_pk = {step.pk: step for step in steps}
    enrolment = Enrolment(
        automation=automation,
        person_type=person._meta.model_name,
        person_id=person.pk,
        step_since=at,
        entered_at=at,
    )
    lines = []
    step = steps[0] if steps else None
    while step is not None:
        at = due_on_arrival(step, at)
        following = next((s for s in steps if s.order > step.order), None)
        if step.kind == Step.Kind.SEND:
            subject = subject_for(step, person)
            template_id = step.email_template_id
            lines.append(PreviewLine(step.order, at, step.describe(), subject, template_id))
        elif step.kind == Step.Kind.CONDITION and step.condition in ("opened", "clicked"):
            lines.append(PreviewLine(step.order, at, step.describe()))
            # Unknown ahead: follow "no", the way that sends more, at the end of its wait.
            at = clock.days_later(at, step.condition_wait_days)
            if step.no_ends:
                break
            following = by_pk.get(step.no_step_id) or following
        elif step.kind == Step.Kind.CONDITION:
            holds = condition_holds(step, enrolment, person)
            lines.append(
                PreviewLine(step.order, at, f"{step.describe()}: {_('yes') if holds else _('no')}")
            )
            if step.yes_ends if holds else step.no_ends:
                break
            target = step.yes_step_id if holds else step.no_step_id
            following = by_pk.get(target) or following
        else:
            lines.append(PreviewLine(step.order, at, step.describe()))
        step = following
    return lines
