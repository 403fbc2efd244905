"""The engine: each trigger, each step kind, exits and re-entry, on a clock the tests move."""

import datetime

import pytest

from automation import engine
from automation.models import Automation, Enrolment, Step, StepRun
from campaigns.models import EmailQueueItem, MassEmail
from crm import events
from targetlists.models import TargetListEntry
from tests.automation.helpers import (
    DAY,
    HOUR,
    T0,
    automation,
    automation_with_every_exit,
    join,
    only_enrolment,
    runs,
    send,
    wait,
)
from tests.factories import (
    ContactFactory,
    LeadFactory,
    SignupFormFactory,
    TargetListFactory,
    TrackingUrlFactory,
)
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db
Status = Enrolment.Status


def queued(made: Automation) -> list[str]:
    return sorted(
        EmailQueueItem.objects.filter(
            mass_email__automated=True, mass_email__campaign=made.campaign
        ).values_list("email", flat=True)
    )


def test_a_three_step_series_over_ten_days_runs_each_step_once_at_its_time():
    made = automation(send(), wait(days=3), send(), wait(days=7), send())
    ann = ContactFactory()
    join(made.trigger_list, ann)

    report = engine.tick(T0)
    enrolment = only_enrolment(made)
    assert (report.enrolled, report.steps) == (1, 1)  # the welcome; the wait runs when over
    assert runs(enrolment) == [(1, "queued")]
    assert (enrolment.step.order, enrolment.due_at) == (2, T0 + 3 * DAY)

    engine.tick(T0 + 3 * DAY - HOUR)
    assert len(runs(enrolment)) == 1
    engine.tick(T0 + 3 * DAY)
    engine.tick(T0 + 3 * DAY)  # a second tick at the same moment does nothing more
    assert runs(enrolment) == [(1, "queued"), (2, "waited"), (3, "queued")]
    engine.tick(T0 + 10 * DAY)
    enrolment.refresh_from_db()
    assert enrolment.status == Status.COMPLETED
    assert [o for _s, o in runs(enrolment)] == ["queued", "waited", "queued", "waited", "queued"]
    # Three mailings of the campaign, In Process for good, each with Ann once.
    mailings = MassEmail.objects.filter(campaign=made.campaign, automated=True)
    assert mailings.count() == 3
    assert {m.status for m in mailings} == {MassEmail.Status.IN_PROCESS}
    assert queued(made) == [ann.email] * 3


def test_signup_confirmation_of_the_chosen_form_enrols():
    form, other = SignupFormFactory(), SignupFormFactory()
    made = automation(send(), trigger=Automation.Trigger.SIGNUP_CONFIRMED, trigger_signup_form=form)
    ann, bob = ContactFactory(), ContactFactory()
    events.record_event(events.SUBSCRIPTION_CONFIRMED, {"signup_form_id": form.pk}, person=ann)
    events.record_event(events.SUBSCRIPTION_CONFIRMED, {"signup_form_id": other.pk}, person=bob)

    engine.tick(T0)

    assert queued(made) == [ann.email]


def test_a_human_click_on_the_tracking_url_enrols_a_scanner_click_does_not():
    url = TrackingUrlFactory()
    made = automation(send(), trigger=Automation.Trigger.LINK_CLICKED, trigger_tracking_url=url)
    ann, bob = ContactFactory(), LeadFactory()
    events.record_event(
        events.EMAIL_CLICKED, {"tracking_url_id": url.pk, "human": True}, person=ann
    )
    events.record_event(
        events.EMAIL_CLICKED, {"tracking_url_id": url.pk, "human": False}, person=bob
    )

    engine.tick(T0)

    assert list(made.enrolments.values_list("person_type", "person_id")) == [("contact", ann.pk)]


def test_a_birthday_trigger_runs_seven_days_before_at_nine_in_the_installations_zone(settings):
    settings.TIME_ZONE = "America/Bogota"  # UTC-5
    made = automation(
        send(),
        trigger=Automation.Trigger.DATE_FIELD,
        trigger_date_field="birthday",
        trigger_days=-7,
        trigger_hour=9,
    )
    ann = ContactFactory(birthday=datetime.date(1990, 3, 9))  # 7 days after Monday 2 March
    ContactFactory(birthday=datetime.date(1990, 3, 10))
    LeadFactory(birthday=None)

    engine.tick(T0 + 5 * HOUR)  # 13:00 UTC = 08:00 in Bogotá: not yet
    assert not made.enrolments.exists()
    engine.tick(T0 + 6 * HOUR)  # 09:00 in Bogotá
    engine.tick(T0 + 8 * HOUR)  # later the same day: not again
    assert list(made.enrolments.values_list("person_id", flat=True)) == [ann.pk]


def test_added_by_hand():
    made = automation(send(), trigger=Automation.Trigger.MANUAL)
    ann, bob = ContactFactory(), LeadFactory()

    assert engine.add_by_hand(made, [("contact", ann.pk), ("lead", bob.pk)], T0) == 2
    engine.tick(T0)

    assert queued(made) == sorted([ann.email, bob.email])


def test_a_draft_or_paused_automation_enrols_nobody_and_moves_nobody():
    made = automation(send(), wait(days=1), send())
    ann = ContactFactory()
    join(made.trigger_list, ann)
    engine.tick(T0)
    engine.pause(made)
    join(made.trigger_list, ContactFactory())

    engine.tick(T0 + 2 * DAY)
    assert made.enrolments.count() == 1
    assert len(runs(only_enrolment(made))) == 1
    engine.activate(made)
    engine.tick(T0 + 2 * DAY)
    assert len(runs(only_enrolment(made))) == 3


def test_wait_until_a_weekday_and_hour_in_the_installations_zone(settings):
    settings.TIME_ZONE = "Europe/Madrid"  # UTC+1 in March
    made = automation(
        {"kind": "wait", "wait_kind": "weekday", "wait_weekday": 3, "wait_hour": 10}, send()
    )
    join(made.trigger_list, ContactFactory())
    engine.tick(T0)  # Monday 09:00 in Madrid

    enrolment = only_enrolment(made)
    assert enrolment.due_at == datetime.datetime(2026, 3, 5, 9, 0, tzinfo=datetime.UTC)


def test_wait_until_a_date():
    until = T0 + 20 * DAY
    made = automation({"kind": "wait", "wait_kind": "date", "wait_until": until}, send())
    join(made.trigger_list, ContactFactory())
    engine.tick(T0)
    engine.tick(until - HOUR)
    assert len(runs(only_enrolment(made))) == 0
    engine.tick(until)
    assert runs(only_enrolment(made)) == [(1, "waited"), (2, "queued")]


def open_of(enrolment: Enrolment, order: int, machine: bool = False) -> None:
    run = StepRun.objects.get(enrolment=enrolment, step__order=order)
    TrackingHit.objects.create(
        queue_item=run.queue_item,
        campaign=enrolment.automation.campaign,
        kind=TrackingHit.Kind.OPEN,
        is_machine=machine,
    )


def branching(condition: dict) -> Automation:
    """1 send, 2 condition (yes: 4, no: 3), 3 send "no", 4 send "yes"."""
    made = automation(send(), send(), send(), send())
    steps = {s.order: s for s in made.steps.all()}
    Step.objects.filter(pk=steps[2].pk).update(
        kind="condition", email_template=None, yes_step=steps[4], **condition
    )
    return made


def test_a_condition_opened_waits_up_to_its_days_and_takes_the_yes_branch_when_it_holds():
    made = branching({"condition": "opened", "condition_step_id": None, "condition_wait_days": 3})
    first = made.steps.get(order=1)
    made.steps.filter(order=2).update(condition_step=first)
    ann, bob = ContactFactory(), ContactFactory()
    join(made.trigger_list, ann)
    join(made.trigger_list, bob)
    engine.tick(T0)
    e_ann = made.enrolments.get(person_id=ann.pk)
    e_bob = made.enrolments.get(person_id=bob.pk)
    open_of(e_bob, 1, machine=True)  # a proxy's open is not a person's

    engine.tick(T0 + DAY)
    assert runs(e_ann) == [(1, "queued")]
    open_of(e_ann, 1)
    engine.tick(T0 + DAY + HOUR)
    assert [s for s, _o in runs(e_ann)] == [1, 2, 4]
    assert runs(e_ann)[1] == (2, "yes")
    engine.tick(T0 + 3 * DAY)
    assert runs(e_bob) == [(1, "queued"), (2, "no"), (3, "queued"), (4, "queued")]


def test_conditions_on_a_field_and_on_a_list_decide_at_once():
    vip = TargetListFactory()
    made = branching({"condition": "in_list", "target_list": vip})
    ann, bob = ContactFactory(), ContactFactory()
    TargetListEntry.objects.create(target_list=vip, contact=ann)
    for person in (ann, bob):
        join(made.trigger_list, person)
    engine.tick(T0)
    assert [s for s, _o in runs(made.enrolments.get(person_id=ann.pk))] == [1, 2, 4]
    assert [s for s, _o in runs(made.enrolments.get(person_id=bob.pk))] == [1, 2, 3, 4]

    titled = branching({"condition": "field", "field_name": "title", "field_value": "CEO"})
    carl = ContactFactory(title="ceo")
    join(titled.trigger_list, carl)
    engine.tick(T0)
    assert runs(only_enrolment(titled))[1] == (2, "yes")


def test_no_may_end_the_automation():
    made = branching({"condition": "field", "field_name": "title", "field_value": "CEO"})
    made.steps.filter(order=2).update(no_ends=True)
    join(made.trigger_list, ContactFactory(title="Intern"))
    engine.tick(T0)
    enrolment = only_enrolment(made)
    assert [s for s, _o in runs(enrolment)] == [1, 2]
    assert enrolment.status == Status.COMPLETED


def test_list_and_field_steps():
    customers, trial = TargetListFactory(), TargetListFactory()
    made = automation(
        {"kind": "add_to_list", "target_list": customers},
        {"kind": "remove_from_list", "target_list": trial},
        {"kind": "set_field", "field_name": "title", "field_value": "Customer"},
    )
    ann = ContactFactory(title="")
    TargetListEntry.objects.create(target_list=trial, contact=ann)
    join(made.trigger_list, ann)
    engine.tick(T0)

    assert runs(only_enrolment(made)) == [(1, "added"), (2, "removed"), (3, "set")]
    assert TargetListEntry.objects.filter(target_list=customers, contact=ann).exists()
    assert not TargetListEntry.objects.filter(target_list=trial, contact=ann).exists()
    ann.refresh_from_db()
    assert ann.title == "Customer"


def test_opting_out_a_hard_bounce_or_a_complaint_end_every_enrolment_of_the_person_at_once():
    one, two = automation(send(), wait(days=1), send()), automation(wait(days=2), send())
    people = ann, bob, carl, dora = [ContactFactory() for _ in range(4)]
    for made in (one, two):
        for person in people:
            join(made.trigger_list, person)
    engine.tick(T0)
    events.record_event(events.EMAIL_UNSUBSCRIBED, {}, person=ann)
    events.record_event(events.EMAIL_BOUNCED, {"kind": "hard"}, person=bob)
    events.record_event(events.EMAIL_BOUNCED, {"kind": "soft"}, person=carl)
    events.record_event(events.EMAIL_COMPLAINED, {}, person=dora)

    engine.tick(T0 + HOUR)
    ended = Enrolment.objects.filter(status=Status.EXITED)
    assert sorted(ended.values_list("person_id", "exit_reason")) == sorted(
        [(ann.pk, "unsubscribed"), (bob.pk, "bounced"), (dora.pk, "complained")] * 2
    )
    engine.tick(T0 + 3 * DAY)
    assert queued(two) == [carl.email]


def test_leaving_the_trigger_list_and_reaching_a_goal_end_it_when_chosen():
    made = automation_with_every_exit()
    goal_list, goal_url = made.goal_list, made.goal_tracking_url
    ann, bob, carl, dora = [ContactFactory() for _ in range(4)]
    for person in (ann, bob, carl, dora):
        join(made.trigger_list, person)
    engine.tick(T0)
    events.record_event(
        events.LIST_MEMBER_REMOVED, {"target_list_id": made.trigger_list.pk}, person=ann
    )
    join(goal_list, bob)
    events.record_event(events.EMAIL_CLICKED, {"tracking_url_id": goal_url.pk}, person=carl)

    engine.tick(T0 + DAY)
    reasons = dict(made.enrolments.values_list("person_id", "exit_reason"))
    assert reasons == {ann.pk: "left_list", bob.pk: "goal", carl.pk: "goal", dora.pk: ""}
    assert queued(made) == [dora.email]


@pytest.mark.parametrize(
    ("rule", "days", "entries"),
    [("never", 0, 1), ("after_days", 10, 2), ("after_days", 60, 1), ("always", 0, 3)],
)
def test_reentry(rule, days, entries):
    made = automation(send(), reentry=rule, reentry_days=days)
    ann = ContactFactory()
    for moment in (T0, T0 + 30 * DAY, T0 + 30 * DAY + HOUR):
        join(made.trigger_list, ann)
        engine.tick(moment)
    assert made.enrolments.count() == entries
    assert made.enrolments.filter(status=Status.ACTIVE).count() == 0
    # Each entry got the email (its own round's mailing: a mass email holds an address once).
    assert queued(made) == [ann.email] * entries


def test_someone_still_in_it_does_not_enter_again_even_with_always():
    made = automation(wait(days=5), send(), reentry="always")
    ann = ContactFactory()
    join(made.trigger_list, ann)
    engine.tick(T0)
    join(made.trigger_list, ann)
    engine.tick(T0 + DAY)
    assert made.enrolments.count() == 1


def test_a_deleted_person_leaves_and_one_without_an_address_passes_the_send():
    made = automation(wait(hours=1), send(), send())
    gone, mute = ContactFactory(), ContactFactory(email_address=None)
    join(made.trigger_list, gone)
    join(made.trigger_list, mute)
    engine.tick(T0)
    gone_id = gone.pk
    gone.delete()
    engine.tick(T0 + HOUR)
    assert made.enrolments.get(person_id=gone_id).exit_reason == "gone"
    assert runs(made.enrolments.get(person_id=mute.pk)) == [
        (1, "waited"),
        (2, "no email address"),
        (3, "no email address"),
    ]


def test_send_steps_of_many_people_run_together_in_a_constant_number_of_queries(
    django_assert_max_num_queries,
):
    made = automation(send(), wait(days=1))
    people = ContactFactory.create_batch(60)
    mute, gone = ContactFactory(email_address=None), ContactFactory()
    twin = ContactFactory(email_address=people[0].email_address)  # shares Ann's address
    engine.add_by_hand(made, [("contact", p.pk) for p in [*people, mute, gone, twin]], T0)
    gone_id = gone.pk
    gone.delete()

    with django_assert_max_num_queries(40):
        report = engine.tick(T0)

    assert report.steps == 62
    outcomes = dict(
        StepRun.objects.filter(enrolment__automation=made).values_list(
            "enrolment__person_id", "outcome"
        )
    )
    assert outcomes[mute.pk] == "no email address"
    assert outcomes[twin.pk] == "already queued to this address"
    assert outcomes[gone_id] == "person deleted"
    assert {outcomes[p.pk] for p in people} == {"queued"}
    assert len(queued(made)) == 60
    assert made.enrolments.filter(step__order=2, leased_by="").count() == 62
