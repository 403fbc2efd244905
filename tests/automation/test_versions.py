"""Editing a live automation never strands anyone: once people started a version, saving
changes to its steps (insert, delete, reorder) makes a new version; those already in it finish
theirs and get exactly its emails, new people get the new one, and "Move everyone to the
newest version" moves them on purpose, never running a step twice for a person."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from automation import engine, versions
from automation.models import Automation, Enrolment, Step, StepRun
from campaigns.models import EmailQueueItem
from tests.automation.helpers import DAY, HOUR, T0, automation, join, send, wait
from tests.factories import ContactFactory, EmailTemplateFactory

pytestmark = pytest.mark.django_db
Status = Enrolment.Status


def received(person) -> list[str]:
    """The names of the templates queued to `person`, in order."""
    items = EmailQueueItem.objects.filter(contact=person).order_by("id")
    return list(items.values_list("mass_email__email_template__name", flat=True))


def step_form(step: Step | None = None, **fields) -> dict:
    """A step's inline form as the admin posts it: its values, then `fields` over them."""
    values = {
        "order": "",
        "kind": "",
        "email_template": "",
        "wait_kind": "",
        "wait_days": 0,
        "wait_hours": 0,
        "condition_wait_days": 0,
    }
    if step is not None:
        values.update(
            id=step.pk,
            automation=step.automation_id,
            order=step.order,
            kind=step.kind,
            email_template=step.email_template_id or "",
            wait_kind=step.wait_kind,
            wait_days=step.wait_days,
            wait_hours=step.wait_hours,
        )
    values.update(fields)
    return values


def edit(client, made: Automation, *forms: dict, initial: int):
    """Post the automation's page with these step forms (the first `initial` are existing)."""
    data = {
        "name": made.name,
        "campaign": made.campaign_id,
        "trigger": made.trigger,
        "trigger_list": made.trigger_list_id,
        "trigger_days": 0,
        "trigger_hour": 9,
        "reentry": "never",
        "reentry_days": 30,
        "steps-TOTAL_FORMS": len(forms),
        "steps-INITIAL_FORMS": initial,
        "steps-MIN_NUM_FORMS": 0,
        "steps-MAX_NUM_FORMS": 1000,
    }
    for i, form in enumerate(forms):
        data.update({f"steps-{i}-{key}": value for key, value in form.items()})
    url = reverse("admin:automation_automation_change", args=[made.pk])
    return client.post(url, data, follow=True)


@pytest.fixture
def series():
    """Welcome (A), wait 2 days, Tips (B); two people at the wait."""
    a, b = EmailTemplateFactory(name="A"), EmailTemplateFactory(name="B")
    made = automation(send(a), wait(days=2), send(b))
    ann, bob = ContactFactory(), ContactFactory()
    for person in (ann, bob):
        join(made.trigger_list, person)
    engine.tick(T0)
    assert set(made.enrolments.values_list("step__order", flat=True)) == {2}
    return made, ann, bob


def insert_delete_reorder(client, made: Automation):
    """Version 2: A, C (inserted), the wait (moved from 2 to 3), D (B deleted, D added)."""
    first, pause, tips = made.current_steps()
    c, d = EmailTemplateFactory(name="C"), EmailTemplateFactory(name="D")
    return edit(
        client,
        made,
        step_form(first),
        step_form(pause, order=3),
        step_form(tips, DELETE="on"),
        step_form(order=2, kind="send", email_template=c.pk),
        step_form(order=4, kind="send", email_template=d.pk),
        initial=3,
    )


def test_people_in_it_finish_their_version_and_new_people_get_the_new_one(admin_client, series):
    made, ann, bob = series

    page = insert_delete_reorder(admin_client, made)

    text = page.content.decode()
    assert "Saved as version 2." in text
    made.refresh_from_db()
    assert made.version == 2
    assert [s.describe() for s in made.current_steps()] == [
        "Send “A”",
        "Send “C”",
        "Wait 2 days 0 hours",
        "Send “D”",
    ]
    # Version 1 is as it was, and the people on it still wait at its step 2.
    assert [s.describe() for s in made.steps.filter(version=1)] == [
        "Send “A”",
        "Wait 2 days 0 hours",
        "Send “B”",
    ]
    assert set(made.enrolments.values_list("step__version", "step__order")) == {(1, 2)}
    cy = ContactFactory()
    join(made.trigger_list, cy)
    engine.tick(T0 + HOUR)
    engine.tick(T0 + 2 * DAY + HOUR)

    assert received(ann) == received(bob) == ["A", "B"]
    assert received(cy) == ["A", "C", "D"]
    assert set(made.enrolments.values_list("status", flat=True)) == {Status.COMPLETED}


def test_the_page_says_who_is_still_on_an_older_version(admin_client, series):
    made, _ann, _bob = series
    insert_delete_reorder(admin_client, made)
    cy = ContactFactory()
    join(made.trigger_list, cy)
    engine.tick(T0 + HOUR)

    page = admin_client.get(reverse("admin:automation_automation_change", args=[made.pk]))

    text = page.content.decode()
    assert "Version 2" in text
    assert "2 people still on version 1: they finish it" in text
    assert "1 waiting now, 0 passed" in text  # cy at the new version's wait
    assert "2 waiting now, 0 passed" in text  # ann and bob at version 1's wait
    current = text[text.index("Version 2") : text.index("still on version 1")]
    assert current.count("<tr>") == 4 and "Send “B”" not in current


def test_an_edit_before_anyone_started_changes_the_steps_in_place(admin_client):
    made = automation(send(), wait(days=2), send(EmailTemplateFactory(name="B")))
    first, pause, tips = made.current_steps()
    other = EmailTemplateFactory(name="E")

    page = edit(
        admin_client,
        made,
        step_form(first),
        step_form(pause),
        step_form(tips, email_template=other.pk),
        initial=3,
    )

    assert "Saved as version" not in page.content.decode()
    made.refresh_from_db()
    assert made.version == 1 and made.steps.count() == 3
    assert made.steps.get(order=3).email_template == other


def test_two_steps_of_the_same_order_are_refused_with_a_clear_message(admin_client, series):
    made, _ann, _bob = series
    first, pause, tips = made.current_steps()

    page = edit(
        admin_client, made, step_form(first), step_form(pause, order=3), step_form(tips), initial=3
    )

    assert "Two steps have the same order: 3." in page.content.decode()
    made.refresh_from_db()
    assert made.version == 1 and made.steps.count() == 3


def test_a_swap_of_two_orders_saves(admin_client, series):
    made, _ann, _bob = series
    first, pause, tips = made.current_steps()

    edit(
        admin_client,
        made,
        step_form(first),
        step_form(pause, order=3),
        step_form(tips, order=2),
        initial=3,
    )

    made.refresh_from_db()
    assert [s.describe() for s in made.current_steps()] == [
        "Send “A”",
        "Send “B”",
        "Wait 2 days 0 hours",
    ]


def test_moving_everyone_to_the_newest_version_never_sends_a_step_twice(admin_client, series):
    made, ann, bob = series
    first, pause, tips = made.current_steps()
    d = EmailTemplateFactory(name="D")
    # Version 2: the wait, B, then A moved to the end (reordered), and D added after it.
    edit(
        admin_client,
        made,
        step_form(first, order=4),
        step_form(pause, order=1),
        step_form(tips, order=2),
        step_form(order=5, kind="send", email_template=d.pk),
        initial=3,
    )
    made.refresh_from_db()
    assert made.version == 2
    url = reverse("admin:automation_automation_changelist")

    page = admin_client.post(
        url, {"action": "move_to_newest_version", ACTION_CHECKBOX_NAME: [made.pk]}, follow=True
    )

    assert "2 people moved to version 2." in page.content.decode()
    assert set(made.enrolments.values_list("step__version", "step__order")) == {(2, 1)}
    # Still due when their wait, started at T0, ends.
    assert set(made.enrolments.values_list("due_at", flat=True)) == {T0 + 2 * DAY}
    engine.tick(T0 + 2 * DAY)
    assert received(ann) == received(bob) == ["A", "B", "D"]  # A once, though it is also ahead
    moved_a = made.steps.get(version=2, order=4)
    carried = StepRun.objects.filter(step=moved_a)
    assert carried.count() == 2 and all(run.carried for run in carried)
    assert set(made.enrolments.values_list("status", flat=True)) == {Status.COMPLETED}


def test_a_person_whose_step_was_deleted_moves_to_the_next_step_still_there(series):
    made, ann, _bob = series
    first, pause, tips = made.current_steps()
    copies = versions.new_version(made)
    Step.objects.filter(pk=copies[pause.pk].pk).delete()

    moved = versions.move_to_newest(made, now=T0 + HOUR)

    assert moved == 2
    assert set(made.enrolments.values_list("step", flat=True)) == {copies[tips.pk].pk}
    engine.tick(T0 + HOUR)
    assert received(ann) == ["A", "B"]


def test_a_person_with_nothing_left_ahead_is_done_when_moved(series):
    made, ann, _bob = series
    first, pause, tips = made.current_steps()
    copies = versions.new_version(made)
    Step.objects.filter(pk__in=[copies[pause.pk].pk, copies[tips.pk].pk]).delete()

    assert versions.move_to_newest(made, now=T0 + HOUR) == 2

    assert set(made.enrolments.values_list("status", flat=True)) == {Status.COMPLETED}
    assert received(ann) == ["A"]


def test_a_step_someone_waits_at_cannot_be_deleted(series):
    from django.db.models import ProtectedError

    made, _ann, _bob = series
    with pytest.raises(ProtectedError):
        made.steps.get(order=2).delete()


def test_moving_chosen_people_to_a_step_of_the_new_version_carries_their_runs(admin_client, series):
    made, ann, bob = series
    first, pause, tips = made.current_steps()
    page = edit(  # version 2: B, then A moved to the end
        admin_client,
        made,
        step_form(first, order=3),
        step_form(pause, DELETE="on"),
        step_form(tips, order=1),
        initial=3,
    )
    assert "Saved as version 2." in page.content.decode()
    made.refresh_from_db()
    tips_now = made.current_steps().get(order=1)
    choices = admin_client.post(
        reverse("admin:automation_enrolment_changelist"),
        {
            "action": "move_to_step",
            ACTION_CHECKBOX_NAME: [made.enrolments.get(person_id=ann.pk).pk],
            "index": "0",
        },
    )
    assert f'value="{pause.pk}"' not in choices.content.decode()  # only the newest version's

    done = admin_client.post(
        reverse("admin:automation_enrolment_changelist"),
        {
            "action": "move_to_step",
            ACTION_CHECKBOX_NAME: [made.enrolments.get(person_id=ann.pk).pk],
            "apply": "yes",
            "step": tips_now.pk,
        },
        follow=True,
    )

    assert "1 moved." in done.content.decode()
    engine.tick()
    engine.tick(T0 + 2 * DAY)
    assert received(ann) == ["A", "B"]  # A not again, though it comes after B now
    assert received(bob) == ["A", "B"]  # still on version 1
