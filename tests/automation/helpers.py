"""Building automations for the tests: a trigger and steps given as dicts, then activated."""

import datetime

from automation import engine
from automation.models import Automation, Enrolment, Step, StepRun
from crm import events
from tests.factories import (
    CampaignFactory,
    EmailTemplateFactory,
    TargetListFactory,
    TrackingUrlFactory,
)

# A Monday, 08:00 UTC: the time the tests start from and move forward.
T0 = datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)


def automation(*steps: dict, activate: bool = True, **fields) -> Automation:
    if "trigger" not in fields:
        fields["trigger"] = Automation.Trigger.LIST_JOINED
        fields.setdefault("trigger_list", TargetListFactory())
    fields.setdefault("campaign", CampaignFactory())
    fields.setdefault("name", "Welcome series")
    made = Automation.objects.create(**fields)
    for order, step in enumerate(steps, start=1):
        Step.objects.create(automation=made, order=order, **step)
    if activate:
        engine.activate(made)
    return made


def automation_with_every_exit() -> Automation:
    """Wait a day, then send; leaving the trigger list ends it, and so does either goal (joining
    its goal list, clicking its goal link)."""
    return automation(
        wait(days=1),
        send(),
        exit_on_leaving_list=True,
        goal_list=TargetListFactory(),
        goal_tracking_url=TrackingUrlFactory(),
    )


def send(template=None) -> dict:
    return {"kind": Step.Kind.SEND, "email_template": template or EmailTemplateFactory()}


def wait(days=0, hours=0) -> dict:
    return {"kind": Step.Kind.WAIT, "wait_kind": "duration", "wait_days": days, "wait_hours": hours}


def join(target_list, person) -> None:
    events.record_event(events.LIST_MEMBER_ADDED, {"target_list_id": target_list.pk}, person=person)


def runs(enrolment: Enrolment) -> list[tuple[int, str]]:
    return list(
        StepRun.objects.filter(enrolment=enrolment)
        .order_by("step__order")
        .values_list("step__order", "outcome")
    )


def only_enrolment(made: Automation) -> Enrolment:
    (enrolment,) = made.enrolments.all()
    return enrolment
