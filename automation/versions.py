"""Versions of an automation's steps: editing a live automation never strands anyone.

Once someone has started the current version (waits at one of its steps, or ran one), saving
changes to the steps makes a new version: a copy of the steps (each pointing at its origin,
the same step one version earlier) which the edit then changes. The older version's steps stay
as they were; the people on it finish it. New enrolments start on the newest version. The
marketer may move everyone to the newest version (`move_to_newest`): each goes to the same step
there, or the first step after theirs that is still there; the steps they ran count as run in
the new version too (carried StepRuns), so no step is ever run twice for a person.
"""

import copy
import datetime

from django.db import connection, transaction
from django.db.models import Count, F
from django.db.models.base import ModelState

from automation import clock
from automation.engine import due_on_arrival, move_to
from automation.models import Automation, Enrolment, Step, StepRun

ACTIVE = Enrolment.Status.ACTIVE
BRANCHES = ("condition_step", "yes_step", "no_step")


def has_started(automation: Automation) -> bool:
    """Whether someone waits at, or ran, a step of the current version."""
    current = automation.current_steps()
    return (
        Enrolment.objects.filter(step__in=current, status=ACTIVE).exists()
        or StepRun.objects.filter(step__in=current).exists()
    )


def new_version(automation: Automation) -> dict[int, Step]:
    """Copy the current version's steps as a new version (branches to the copies) and make it
    the current one; {each step's id: its copy}."""
    with transaction.atomic():
        # Two editors saving at once make two versions, one after the other.
        locked = Automation.objects.select_for_update().get(pk=automation.pk)
        steps = list(locked.current_steps())
        copies: dict[int, Step] = {}
        for step in steps:
            made = copy.copy(step)
            made.pk, made._state = None, ModelState()  # a new row, sharing no cache with `step`
            made.version, made.origin_id = locked.version + 1, step.pk
            for name in BRANCHES:
                setattr(made, f"{name}_id", None)
            made.save()
            copies[step.pk] = made
        for step in steps:
            branches = {n: copies.get(getattr(step, f"{n}_id")) for n in BRANCHES}
            if any(branches.values()):
                Step.objects.filter(pk=copies[step.pk].pk).update(**branches)
        Automation.objects.filter(pk=locked.pk).update(version=locked.version + 1)
        automation.version = locked.version + 1
    return copies


def newest_of(automation: Automation) -> dict[int, Step]:
    """{step id of any version: the same step in the current version}, for those still there."""
    return _newest_among({step.pk: step for step in Step.objects.filter(automation=automation)})


def _newest_among(steps: dict[int, Step]) -> dict[int, Step]:
    """newest_of for an automation's `steps` (all versions, by id), its current version the
    highest of theirs."""
    current = max((step.version for step in steps.values()), default=0)
    found = {}
    for step in steps.values():
        if step.version != current:
            continue
        ancestor = step
        while ancestor is not None:
            found[ancestor.pk] = step
            ancestor = steps.get(ancestor.origin_id)
    return found


def target_for(
    step: Step, newest: dict[int, Step], steps: dict[int, Step]
) -> tuple[Step | None, bool]:
    """Where someone at `step` (of an older version) goes in the current one: (the same step,
    True), or (the first later step of theirs still there, False), or (None, False): none is.
    `steps` are the automation's, of every version, by id."""
    if step.pk in newest:
        return newest[step.pk], True
    later = sorted(
        (s for s in steps.values() if s.version == step.version and s.order > step.order),
        key=lambda s: s.order,
    )
    for each in later:
        if each.pk in newest:
            return newest[each.pk], False
    return None, False


def move_to_newest(automation: Automation, now: datetime.datetime | None = None) -> int:
    """Move the active enrolments of older versions to the current one; how many moved.

    Set-based: one update per step they go to (but a wait of days, whose local hours are
    counted in Python), one insert of the runs they carry."""
    now = now or clock.now()
    with transaction.atomic():
        automation = Automation.objects.get(pk=automation.pk)
        waiting = (
            Enrolment.objects.filter(automation=automation, status=ACTIVE, step__isnull=False)
            .exclude(step__version=automation.version)
            .order_by("id")
        )
        if connection.vendor == "postgresql":  # a tick running one of them finishes first
            waiting = waiting.select_for_update(of=("self",))
        by_step: dict[int, list[int]] = {}
        for enrolment_id, step_id in waiting.values_list("id", "step_id"):
            by_step.setdefault(step_id, []).append(enrolment_id)
        steps = {step.pk: step for step in Step.objects.filter(automation=automation)}
        newest = _newest_among(steps)
        moved = 0
        for step_id, ids in by_step.items():
            target, same = target_for(steps[step_id], newest, steps)
            moved += _move(Enrolment.objects.filter(pk__any_of=ids), target, same, now)
        carry_runs([i for group in by_step.values() for i in group], newest)
    return moved


def move_to_step(enrolments, step: Step, now: datetime.datetime | None = None) -> int:
    """Move active enrolments to a step of the current version (the marketer's choice); the
    steps they ran count as run there too. How many moved."""
    moved = 0
    with transaction.atomic():
        newest = newest_of(step.automation)
        ids = list(enrolments.filter(status=ACTIVE).values_list("id", flat=True))
        moved += move_to(Enrolment.objects.filter(pk__any_of=ids), step, now)
        carry_runs(ids, newest)
    return moved


def _move(enrolments, target: Step | None, same: bool, now: datetime.datetime) -> int:
    if target is None:  # nothing of theirs is left ahead: they are done
        return enrolments.update(
            status=Enrolment.Status.COMPLETED, step=None, due_at=None, finished_at=now
        )
    if not same:
        return enrolments.update(step=target, step_since=now, due_at=due_on_arrival(target, now))
    # The same step: a wait for a time counts from when they got there (as edited, if it was).
    if target.kind == Step.Kind.WAIT and target.wait_kind == Step.WaitKind.DURATION:
        if target.wait_days:
            return _restart_wait(enrolments, target)
        length = datetime.timedelta(hours=target.wait_hours)
        return enrolments.update(step=target, due_at=F("step_since") + length)
    return enrolments.update(step=target, due_at=due_on_arrival(target, now))


def _restart_wait(enrolments, wait: Step) -> int:
    """Put the enrolments at `wait`, due when it is over counted from when they got there: in
    Python, since its days keep the local hour across a daylight saving change (a bulk update
    of a thousand a statement)."""
    zone = clock.local_zone()
    moved = list(enrolments.only("id", "step_since"))
    for enrolment in moved:
        enrolment.step, enrolment.due_at = wait, wait.wait_ends(enrolment.step_since, zone)
    Enrolment.objects.bulk_update(moved, ["step", "due_at"], batch_size=1000)
    return len(moved)


def carry_runs(enrolment_ids: list[int], newest: dict[int, Step]) -> None:
    """The steps these enrolments ran count as run in the current version (never again)."""
    runs = StepRun.objects.filter(enrolment_id__any_of=enrolment_ids, step_id__in=list(newest))
    carried = [
        StepRun(
            enrolment_id=run.enrolment_id,
            step=newest[run.step_id],
            ran_at=run.ran_at,
            outcome=run.outcome or "done",
            queue_item_id=run.queue_item_id,  # what a condition on its opens reads
            carried=True,
        )
        for run in runs
        if newest[run.step_id].pk != run.step_id
    ]
    StepRun.objects.bulk_create(carried, batch_size=500, ignore_conflicts=True)


def people_on_older_versions(automation: Automation) -> list[tuple[int, int]]:
    """(version, people active on it) for each older version someone is still on."""
    rows = (
        Enrolment.objects.filter(automation=automation, status=ACTIVE, step__isnull=False)
        .exclude(step__version=automation.version)
        .values("step__version")
        .annotate(n=Count("id"))
        .order_by("step__version")
    )
    return [(row["step__version"], row["n"]) for row in rows]
