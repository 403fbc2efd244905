"""The editor refuses a sequence that cannot run, with a clear message."""

import pytest
from django.core.exceptions import ValidationError

from automation import engine
from automation.models import Automation, Step
from tests.automation.helpers import automation, send, wait
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def test_a_send_without_a_template_and_a_wait_without_a_time_are_refused():
    made = automation({"kind": "send"}, {"kind": "wait", "wait_kind": "duration"}, activate=False)
    with pytest.raises(engine.CannotRun) as refused:
        engine.activate(made)
    assert "1. Send an email: a send step needs an email template." in str(refused.value)
    assert "2. Wait: a wait for a time needs days or hours." in str(refused.value)
    made.refresh_from_db()
    assert made.status == Automation.Status.DRAFT


def test_a_branch_to_nowhere_or_backwards_is_refused():
    made = automation(send(), wait(days=1), send(), activate=False)
    other = automation(send(), activate=False)
    first, second = made.steps.get(order=1), made.steps.get(order=2)
    Step.objects.filter(pk=second.pk).update(
        kind="condition", condition="opened", condition_step=first, yes_step=other.steps.get()
    )
    assert "a branch goes to a step of another automation: to nowhere." in made.problems()[0]
    Step.objects.filter(pk=second.pk).update(yes_step=first)
    assert "a branch must go forward (to step 3 or later)." in made.problems()[0]


def test_an_empty_automation_cannot_run():
    made = automation(activate=False)
    assert made.problems() == ["An automation needs at least one step."]


def test_a_list_trigger_needs_its_list():
    made = Automation(campaign=CampaignFactory(), name="x", trigger="list_joined")
    with pytest.raises(ValidationError) as refused:
        made.full_clean()
    assert "Choose the list people join." in str(refused.value)


def test_a_branch_either_ends_or_goes_to_a_step():
    made = automation(send(), wait(days=1), send(), activate=False)
    first, second = made.steps.get(order=1), made.steps.get(order=2)
    Step.objects.filter(pk=second.pk).update(
        kind="condition",
        condition="opened",
        condition_step=first,
        yes_ends=True,
        yes_step=made.steps.get(order=3),
    )
    assert "“if yes” either ends here or goes to a step, not both." in made.problems()[0]
    Step.objects.filter(pk=second.pk).update(yes_step=None)
    assert made.problems() == []
    assert made.steps.get(order=2).describe().endswith("yes → end, no → next")
