"""The automation engine: enrols people from the event stream, the date triggers and by hand,
ends enrolments on the exits, and runs each due step exactly once.

A tick (the beat entry "Run Automations" every minute, or `manage.py run_automations`):
1. reads the event stream as consumer "automation" (crm.events.take: each event handled once,
   in the transaction that moves the position, so enrolments and exits commit with it);
2. enrols the people whose date trigger falls due (a date field N days before or after, at an
   hour in the installation's time zone);
3. claims due enrolments (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite has one writer) and
   runs their send steps together in the claim's transaction (automation/batches.py: the
   StepRuns first, then the queue items, then the moves, a few statements for thousands);
   the others are leased and run each in its own transaction: the StepRun row (unique per
   enrolment and step) first, then the side effect, then the move to the next step, all
   committed together. Two ticks claim disjoint enrolments; a tick killed mid-step rolls back
   whole (its send steps' claim with it, free at once), and its leased claim is taken up again
   when the lease runs out; a tick whose lease ran out while it still worked finds the StepRun
   of the other and does nothing twice.
A send step queues the person to the step's mailing (a MassEmail of the automation's campaign,
In Process while the automation runs): the normal send job sends it, with its rendering,
opt-out, tracking, DKIM and hourly limit, and the log lands in the campaign's. A mailing that
stopped (its rendering failed) pauses the automation, and nobody moves past its step
(automation/mailings.py).
"""

import calendar
import datetime
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from automation import batches, clock, exits, mailings
from automation import people as persons
from automation.models import Automation, Enrolment, Step, StepRun
from campaigns.authoring.rendering import RenderError
from campaigns.models import EmailQueueItem
from crm import events
from crm.models import Contact, Lead
from targetlists.adding import add_to_target_list, remove_entries
from targetlists.models import TargetListEntry
from tracking.models import TrackingHit

logger = logging.getLogger(__name__)
CONSUMER = "automation"
LEASE = datetime.timedelta(seconds=getattr(settings, "AUTOMATION_LEASE_SECONDS", 600))
BATCH = 1000
# Due enrolments claimed at once: their send steps run together in the claim's transaction (a
# commit each, so fewer and larger), the others are leased BATCH at a time.
CLAIM = 5000
# Events handed over per read of the stream (a list import's joins are enrolled together).
EVENTS_PER_READ = 10_000
# A condition waited for is checked again this often (and as soon as its time is up).
RECHECK = datetime.timedelta(hours=1)
# Steps one enrolment may take in one tick (branches only go forward, so this is a backstop).
MAX_STEPS = 100
WATCHED = (
    events.LIST_MEMBER_ADDED,
    events.LIST_MEMBER_REMOVED,
    events.SUBSCRIPTION_CONFIRMED,
    events.EMAIL_CLICKED,
    events.EMAIL_UNSUBSCRIBED,
    events.EMAIL_BOUNCED,
    events.EMAIL_COMPLAINED,
    events.ADDRESS_SUPPRESSED,
)
ACTIVE = Enrolment.Status.ACTIVE
Reason = Enrolment.Reason


@dataclass
class TickReport:
    events: int = 0
    enrolled: int = 0
    steps: int = 0
    exited: int = 0
    completed: int = 0
    skipped: int = 0  # events that could not be handled (their reasons are in the problems)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = _(
            "%(events)s events read, %(enrolled)s people enrolled, %(steps)s steps run, "
            "%(exited)s exits, %(completed)s completed"
        ) % vars(self)
        if self.skipped:
            text += "; " + _("%(skipped)s events skipped") % vars(self)
        return text


def tick(now: datetime.datetime | None = None) -> TickReport:
    """One run of the engine (see the module's docstring)."""
    now = now or clock.now()
    report = TickReport()
    statistics = batches.Statistics()
    _apart(read_events, now, report)
    _apart(enrol_by_date, now, report)
    statistics.wrote(report.enrolled)
    _apart(pause_where_mailings_stopped, now, report)
    run_due(now, report, statistics)
    return report


def pause_where_mailings_stopped(now: datetime.datetime, report: TickReport) -> None:
    """Before any step runs: pause the automations one of whose mailings stopped."""
    report.problems += mailings.pause_where_stopped()


def _apart(part, now: datetime.datetime, report: TickReport) -> None:
    """Run a part of the tick; if it breaks it is logged and reported, and the tick goes on."""
    try:
        part(now, report)
    except Exception as exc:  # noqa: BLE001  the due steps must run whatever broke here
        logger.exception("Automation: %s broke", part.__name__)
        report.problems.append(f"{part.__name__}: {type(exc).__name__}: {exc}")


# --- Activating -----------------------------------------------------------------------------


class CannotRun(ValueError):
    """The automation's steps cannot run; the message says why."""


def activate(automation: Automation) -> None:
    """Make the automation Active, its stopped mailings In Process again (mailings.py), or
    raise CannotRun with what is wrong."""
    problems = automation.problems()
    if problems:
        raise CannotRun(" ".join(problems))
    try:
        mailings.restart(automation)
    except RenderError as exc:
        raise CannotRun(str(exc)) from exc
    # Hear of what happens from now on (a consumer's first read starts at the stream's end).
    events.start(CONSUMER)
    Automation.objects.filter(pk=automation.pk).update(status=Automation.Status.ACTIVE)
    automation.status = Automation.Status.ACTIVE


def pause(automation: Automation) -> None:
    """Paused: nobody enters, nobody moves on; people keep their place until it is active."""
    Automation.objects.filter(pk=automation.pk).update(status=Automation.Status.PAUSED)
    automation.status = Automation.Status.PAUSED


# --- Reading the event stream ---------------------------------------------------------------


def read_events(now: datetime.datetime, report: TickReport) -> None:
    """Handle the new events of the stream. One that cannot be handled (its data malformed, a
    bug) is undone alone, logged with its id, counted as skipped with the reason in the
    report's problems, and the position moves past it: it never stalls every automation."""

    def handle(batch):
        report.events += len(batch)
        joins: list = []  # consecutive list joins, enrolled together (a list import's)
        for event in batch:
            try:
                join = _join_of(event)
            except MalformedEvent as exc:
                _skip([event], exc, report)
                continue
            if join is not None:
                if joins and joins[0][0] != join[0]:
                    _handle_joins_isolated(joins, now, report)
                    joins = []
                joins.append(join)
                continue
            if joins:
                _handle_joins_isolated(joins, now, report)
                joins = []
            _isolated([event], report, lambda event=event: handle_event(event, now, report))
        if joins:
            _handle_joins_isolated(joins, now, report)

    while events.take(CONSUMER, handle, limit=EVENTS_PER_READ, types=WATCHED, rows=True):
        pass


class MalformedEvent(ValueError):
    """An event's data is not what its type records."""


def _data(event) -> dict:
    data = event.data or {}
    if not isinstance(data, dict):
        raise MalformedEvent(f"its data is a {type(data).__name__}, not an object")
    return data


def _join_of(event) -> tuple | None:
    """(list id, person, event) of a list join; None for another event."""
    if event.type != events.LIST_MEMBER_ADDED or not event.person_id:
        return None
    list_id = _required_ref(_data(event), "target_list", "list_id", "list")
    return list_id, (event.person_type, event.person_id), event


def _handle_joins_isolated(joins: list, now: datetime.datetime, report: TickReport) -> None:
    """One list's joins together; if that fails, each on its own, so only a bad one is
    skipped."""
    if len(joins) > 1 and _isolated([], report, lambda: handle_joins(joins, now, report)):
        return
    for join in joins:
        _isolated([join[2]], report, lambda join=join: handle_joins([join], now, report))


def _isolated(skipped: list, report: TickReport, work) -> bool:
    """Do `work()` in a savepoint; True if done. If it raises, it is undone (and what it
    counted) and the events `skipped` are skipped (none: the caller tries them one by one)."""
    counted = (report.enrolled, report.exited)
    try:
        with transaction.atomic():
            work()
    except Exception as exc:  # noqa: BLE001  one bad event must not stall every automation
        report.enrolled, report.exited = counted
        if not skipped:
            logger.warning("Automation: events handled together broke; each alone now: %s", exc)
        _skip(skipped, exc, report)
        return False
    return True


def _skip(skipped: list, exc: Exception, report: TickReport) -> None:
    """Log and report events that could not be handled: the position moves past them."""
    for event in skipped:
        logger.error("Automation: event %s (%s) skipped", event.id, event.type, exc_info=exc)
        report.skipped += 1
        report.problems.append(
            f"event #{event.id} ({event.type}) skipped: {type(exc).__name__}: {exc}"
        )


def _ref(data: dict, name: str, *aliases: str) -> int | None:
    """An id the event's data gives as `<name>_id`, `<name>` (an id or {"id": …}) or an alias."""
    for key in (f"{name}_id", name, *aliases):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("id")
        if value not in (None, ""):
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def _required_ref(data: dict, name: str, *aliases: str) -> int:
    """As _ref, for an id the event cannot do without: a missing one would match every
    automation that has none (a filter on None is IS NULL)."""
    found = _ref(data, name, *aliases)
    if found is None:
        raise MalformedEvent(f"it names no {name}")
    return found


def _suppression_reason(data: dict) -> str:
    """Why an address.suppressed event ends enrolments. A complaint opts the address out
    before its email.complained is recorded, so the event's `via` says it; invalid addresses
    are hard-bounced ones as far as the log's reasons go."""
    if data.get("via") == "complaint":
        return Reason.COMPLAINED
    return Reason.UNSUBSCRIBED if data.get("reason") == "opted_out" else Reason.BOUNCED


def handle_event(event, now: datetime.datetime, report: TickReport) -> None:
    if not event.person_id or not event.person_type:
        return
    person = (event.person_type, event.person_id)
    data = _data(event)
    active = Automation.objects.filter(status=Automation.Status.ACTIVE)
    Trigger = Automation.Trigger
    if event.type == events.EMAIL_UNSUBSCRIBED:
        report.exited += end_for_person(person, Reason.UNSUBSCRIBED, now)
    elif event.type == events.EMAIL_COMPLAINED:
        report.exited += end_for_person(person, Reason.COMPLAINED, now)
    elif event.type == events.EMAIL_BOUNCED:
        if str(data.get("kind") or data.get("bounce_type") or "").lower() == "hard":
            report.exited += end_for_person(person, Reason.BOUNCED, now)
    elif event.type == events.ADDRESS_SUPPRESSED:
        report.exited += end_for_person(person, _suppression_reason(data), now)
    elif event.type == events.LIST_MEMBER_REMOVED:
        list_id = _required_ref(data, "target_list", "list_id", "list")
        leaving = Enrolment.objects.filter(
            automation__exit_on_leaving_list=True, automation__trigger_list_id=list_id
        )
        report.exited += end_for_person(person, Reason.LEFT_LIST, now, leaving)
    elif event.type == events.SUBSCRIPTION_CONFIRMED:
        form_id = _ref(data, "signup_form", "form_id", "form")
        confirmed = active.filter(trigger=Trigger.SIGNUP_CONFIRMED).filter(
            Q(trigger_signup_form__isnull=True) | Q(trigger_signup_form_id=form_id)
        )
        for automation in confirmed:
            report.enrolled += enrol(automation, [person], now)
    elif event.type == events.EMAIL_CLICKED:
        if data.get("human", True) is False:  # a scanner's click: no person was there
            return
        url_id = _required_ref(data, "tracking_url", "url_id", "url")
        report.exited += end_for_person(
            person,
            Reason.GOAL,
            now,
            Enrolment.objects.filter(automation__goal_tracking_url_id=url_id),
        )
        for automation in active.filter(
            trigger=Trigger.LINK_CLICKED, trigger_tracking_url_id=url_id
        ):
            report.enrolled += enrol(automation, [person], now)


def handle_joins(joins: list, now: datetime.datetime, report: TickReport) -> None:
    """People who joined one list ((list id, person, event) each): goals reached, then
    enrolments, set-based."""
    list_id = joins[0][0]
    people = [person for _list, person, _event in joins]
    goal = Enrolment.objects.filter(automation__goal_list_id=list_id)
    report.exited += end_for_people(people, Reason.GOAL, now, goal)
    joined = Automation.objects.filter(
        status=Automation.Status.ACTIVE,
        trigger=Automation.Trigger.LIST_JOINED,
        trigger_list_id=list_id,
    )
    for automation in joined:
        report.enrolled += enrol(automation, people, now)


# --- Entering and leaving -------------------------------------------------------------------


def first_step(automation: Automation) -> Step | None:
    return automation.current_steps().first()  # new enrolments start on the newest version


def due_on_arrival(step: Step, now: datetime.datetime) -> datetime.datetime:
    """When a step someone reaches at `now` is due: a wait's end, else at once."""
    if step.kind == Step.Kind.WAIT:
        return step.wait_ends(now, clock.local_zone())
    return now


def enrol(
    automation: Automation,
    people: Iterable[persons.Person],
    now: datetime.datetime,
    occurrence: datetime.date | None = None,
) -> int:
    """Enrol `people` ((type, id) pairs) as the re-entry rule allows; how many entered.

    Set-based: one INSERT … SELECT per 10,000 people, their earlier enrolments joined in SQL
    (automation/batches.py). Someone already active in it is left where they are (a unique
    constraint holds it under races). `occurrence`: the date a date trigger enrols them for,
    once each and every year whatever the re-entry rule."""
    step = first_step(automation)
    if step is None or automation.status != Automation.Status.ACTIVE:
        return 0
    return batches.enrol_people(
        automation,
        list(dict.fromkeys(people)),
        {
            "step_id": step.pk,
            "step_since": now,
            "due_at": due_on_arrival(step, now),
            "entered_at": now,
            "status": ACTIVE,
            "exit_reason": "",
            "leased_by": "",
            "occurrence": occurrence,
        },
        now,
    )


def _people_q(people: list[persons.Person]) -> Q:
    by_type: dict[str, list[int]] = {}
    for person_type, person_id in people:
        by_type.setdefault(person_type, []).append(person_id)
    query = Q(pk__in=[])
    for person_type, ids in by_type.items():
        query |= Q(person_type=person_type, person_id__any_of=ids)
    return query


def end_for_person(person, reason: str, now: datetime.datetime, enrolments=None) -> int:
    """End the person's active enrolments (every automation, or those of `enrolments`)."""
    return end_for_people([person], reason, now, enrolments)


def end_for_people(people: list, reason: str, now: datetime.datetime, enrolments=None) -> int:
    """End these people's active enrolments (every automation, or those of `enrolments`),
    each exit logged in its campaign's log."""
    enrolments = Enrolment.objects.all() if enrolments is None else enrolments
    return exits.end(enrolments.filter(_people_q(people)), reason, now)


def enrol_by_date(now: datetime.datetime, report: TickReport) -> None:
    """Enrol the people whose date (e.g. birthday) is N days from today, once the trigger's hour
    has come in the installation's time zone: every year, once for each year's date."""
    local = now.astimezone(clock.local_zone())
    dated = Automation.objects.filter(
        status=Automation.Status.ACTIVE, trigger=Automation.Trigger.DATE_FIELD
    )
    for automation in dated:
        if local.hour < automation.trigger_hour:
            continue
        day = local.date() - datetime.timedelta(days=automation.trigger_days)
        for model, person_type in ((Contact, "contact"), (Lead, "lead")):
            entered = Enrolment.objects.filter(
                automation=automation, person_type=person_type, occurrence=day
            ).values("person_id")
            ids = (
                model.objects.filter(falls_on(automation.trigger_date_field, day))
                .exclude(pk__in=entered)
                .values_list("pk", flat=True)
            )
            people = [(person_type, pk) for pk in ids]
            report.enrolled += enrol(automation, people, now, occurrence=day)


def falls_on(name: str, day: datetime.date) -> Q:
    """People whose yearly date `name` falls on `day`: a 29 February on the 28th in a year
    without one."""
    query = Q(**{f"{name}__month": day.month, f"{name}__day": day.day})
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        query |= Q(**{f"{name}__month": 2, f"{name}__day": 29})
    return query


def move_to(enrolments, step: Step, now=None) -> int:
    """Move active enrolments to `step` (the marketer's choice after editing): due as on
    arrival; how many. Steps they had run stay run (a step is never run twice for a person)."""
    now = now or clock.now()
    with transaction.atomic():
        return enrolments.filter(status=ACTIVE, automation_id=step.automation_id).update(
            step=step, step_since=now, due_at=due_on_arrival(step, now)
        )


def add_by_hand(automation: Automation, people: Iterable[persons.Person], now=None) -> int:
    """Enrol people chosen in the admin (from people's lists or a target list)."""
    with transaction.atomic():
        return enrol(automation, people, now or clock.now())


# --- Running due steps ----------------------------------------------------------------------


def run_due(now: datetime.datetime, report: TickReport, statistics: batches.Statistics) -> None:
    """Claim and run due enrolments until none is left for this tick: send steps of a claim
    together (set-based, as fast as a mass email's queue), every other step one by one."""
    while True:
        steps = report.steps
        token, rest = claim_and_send(now, CLAIM, report)
        if token is None:
            return
        statistics.wrote(report.steps - steps)
        for enrolment_id in rest:
            try:
                run_enrolment(enrolment_id, token, now, report)
            except Exception as exc:  # noqa: BLE001  one person's failure must not stop the rest
                logger.exception("Automation enrolment %s broke", enrolment_id)
                report.problems.append(f"#{enrolment_id}: {type(exc).__name__}: {exc}")


def claim_and_send(
    now: datetime.datetime, limit: int, report: TickReport
) -> tuple[str | None, list[int]]:
    """Claim up to `limit` due enrolments and run their send steps together, in one
    transaction: the claim's row locks (SKIP LOCKED) keep other workers off them until it
    commits, and a worker killed meanwhile rolls it all back, so these need no lease. Up to
    BATCH of the others are leased to this tick for one-by-one runs: (token, their ids);
    (None, []) when nothing is due."""
    token = uuid.uuid4().hex
    with transaction.atomic():
        due = _due(now)
        if connection.vendor == "postgresql":
            due = due.select_for_update(skip_locked=True, of=("self",))
        claimed = list(due.values_list("id", "step_id", "entry", "person_type")[:limit])
        if not claimed:
            return None, []
        try:
            with transaction.atomic():
                rest = run_sends_together(claimed, now, report)
            rest = leased = rest[:BATCH]  # the others stay due, for the next claim
        except Exception as exc:  # noqa: BLE001  these wait for their lease; the rest goes on
            logger.exception("Automation send steps broke")
            report.problems.append(f"{type(exc).__name__}: {exc}")
            rest, leased = [], [row[0] for row in claimed]
        if leased:
            Enrolment.objects.filter(id__any_of=leased).update(
                leased_until=now + LEASE, leased_by=token
            )
    return token, rest


def run_sends_together(claimed: list[tuple], now: datetime.datetime, report: TickReport) -> list:
    """Run the send steps among the claimed enrolments ((id, step id, entry, person type), all
    due), per step and entry round (who entered first gets a shared address's message): their
    StepRuns in one statement (before the queue items), the queue items in one, the moves to
    the next step in one (automation/batches.py). The ids left for one-by-one runs: every
    other step, and a group whose StepRuns already exist (then each on its own)."""
    rest: list[int] = []
    steps = Step.objects.select_related("automation", "email_template").in_bulk(
        {step_id for _pk, step_id, *_others in claimed if step_id}
    )
    groups: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for pk, step_id, entry, person_type in claimed:
        step = steps.get(step_id)
        if step is None or step.kind != Step.Kind.SEND:
            rest.append(pk)
        elif person_type not in SENT_IN_BATCHES:  # a User's address is a field of its own
            rest.append(pk)
        else:
            groups.setdefault((step_id, entry), []).append((pk, person_type))
    for (step_id, entry), group in groups.items():
        if not _send_group(steps[step_id], entry, group, now, report):
            rest += [pk for pk, _type in group]
    return sorted(rest)


# People whose address is a row of their own (a User's is a field): their sends run together.
SENT_IN_BATCHES = ("account", "contact", "lead")


def _send_group(
    step: Step, entry: int, group: list[tuple[int, str]], now: datetime.datetime, report
) -> bool:
    """One step and round for many enrolments ((id, person type) pairs): the StepRuns (with
    what the step will do for each), then the queue items, then the moves: a few statements
    whatever their number. False (nothing done) when some StepRun exists already. If the
    step's mailing stopped, the automation is paused and they wait at the step."""
    try:
        mass_email = mailings.mailing_for(step, entry)
    except mailings.MailingStopped as stop:
        report.problems.append(mailings.pause_for(stop))
        return True
    ids = [pk for pk, _type in group]
    types = sorted({person_type for _pk, person_type in group})
    try:
        with transaction.atomic():
            batches.record_send_runs(step, mass_email, ids, types, now)
    except IntegrityError:  # some ran already: each is decided on its own
        return False
    batches.queue_send_runs(step, mass_email, ids, types, now)
    gone = list(
        StepRun.objects.filter(
            step=step, enrolment_id__any_of=ids, outcome="person deleted"
        ).values_list("enrolment_id", flat=True)
    )
    moving = Enrolment.objects.filter(pk__any_of=ids).exclude(pk__any_of=gone)
    following = _next(step)
    unleased = {"leased_until": None, "leased_by": ""}
    if following is None:
        report.completed += moving.update(
            status=Enrolment.Status.COMPLETED, step=None, due_at=None, finished_at=now, **unleased
        )
    else:
        moving.update(
            step=following, step_since=now, due_at=due_on_arrival(following, now), **unleased
        )
    deleted = exits.end(Enrolment.objects.filter(pk__any_of=gone), Reason.GONE, now) if gone else 0
    report.steps += len(group) - deleted
    return True


def _due(now: datetime.datetime):
    """Due active enrolments of active automations nobody holds a lease on, in claim order."""
    return (
        Enrolment.objects.filter(
            status=ACTIVE, due_at__lte=now, automation__status=Automation.Status.ACTIVE
        )
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .order_by("due_at", "id")
    )


def run_enrolment(enrolment_id: int, token: str, now: datetime.datetime, report: TickReport):
    """Run the enrolment's due steps, in one transaction, if this tick still holds its lease
    and the automation is still active. A send step whose mailing stopped undoes them and
    pauses the automation (automation/mailings.py): the person waits at that step."""
    steps = report.steps
    try:
        _run_leased(enrolment_id, token, now, report)
    except mailings.MailingStopped as stop:
        report.steps = steps
        report.problems.append(mailings.pause_for(stop))
        Enrolment.objects.filter(pk=enrolment_id, leased_by=token).update(
            leased_until=None, leased_by=""
        )


def _run_leased(enrolment_id: int, token: str, now: datetime.datetime, report: TickReport):
    with transaction.atomic():
        enrolment = (
            Enrolment.objects.select_for_update(of=("self",))
            .select_related("automation", "step")
            .filter(pk=enrolment_id, status=ACTIVE, leased_by=token)
            .first()
        )
        if enrolment is None:  # ended meanwhile, or the lease ran out and another took it
            return
        person = persons.load(enrolment.person_type, enrolment.person_id)
        taken = 0
        while (
            enrolment.automation.status == Automation.Status.ACTIVE  # not paused meanwhile
            and enrolment.status == ACTIVE
            and enrolment.step is not None
            and enrolment.due_at <= now
            and taken < MAX_STEPS
        ):
            if person is None:
                _finish(enrolment, now, Reason.GONE)
                break
            if run_step(enrolment, person, now):
                report.steps += 1
            taken += 1
        if enrolment.status == Enrolment.Status.COMPLETED:
            report.completed += 1
        enrolment.leased_until, enrolment.leased_by = None, ""
        enrolment.save()


def run_step(enrolment: Enrolment, person, now: datetime.datetime) -> bool:
    """Run the enrolment's current step and move on; False if it only waits longer (a
    condition still false within its days) or another worker had already run it."""
    step = enrolment.step
    if step.kind == Step.Kind.CONDITION:
        holds = condition_holds(step, enrolment, person)
        deadline = clock.days_later(enrolment.step_since, step.condition_wait_days)
        if not holds and now < deadline:
            enrolment.due_at = min(now + RECHECK, deadline)
            return False
        run = _record(enrolment, step, now, "yes" if holds else "no")
        holds = run.outcome == "yes"
        if step.yes_ends if holds else step.no_ends:  # the branch ends here
            _finish(enrolment, now)
        else:
            _move(enrolment, (step.yes_step if holds else step.no_step) or _next(step), now)
        return True
    run = _record(enrolment, step, now, "")
    if run.outcome == "":  # ours: do the side effect (another's run already did it)
        run.outcome, run.queue_item = do_step(step, enrolment, person, now)
        run.save(update_fields=["outcome", "queue_item"])
    _move(enrolment, _next(step), now)
    return True


def _record(enrolment: Enrolment, step: Step, now: datetime.datetime, outcome: str) -> StepRun:
    """Write the StepRun before the side effect; the earlier one if the step already ran."""
    try:
        with transaction.atomic():
            return StepRun.objects.create(
                enrolment=enrolment, step=step, ran_at=now, outcome=outcome
            )
    except IntegrityError:
        earlier = StepRun.objects.get(enrolment=enrolment, step=step)
        if earlier.outcome == "":
            earlier.outcome = "done"  # whatever it did is done: never again
        return earlier


def _next(step: Step) -> Step | None:
    return (
        Step.objects.filter(
            automation_id=step.automation_id, version=step.version, order__gt=step.order
        )
        .order_by("order")
        .first()
    )


def _move(enrolment: Enrolment, step: Step | None, now: datetime.datetime) -> None:
    if step is None:
        _finish(enrolment, now)
        return
    enrolment.step, enrolment.step_since, enrolment.due_at = step, now, due_on_arrival(step, now)


def _finish(enrolment: Enrolment, now: datetime.datetime, reason: str = "") -> None:
    enrolment.status = Enrolment.Status.EXITED if reason else Enrolment.Status.COMPLETED
    enrolment.exit_reason = reason
    enrolment.step, enrolment.due_at, enrolment.finished_at = None, None, now
    if reason:
        campaign_id = enrolment.automation.campaign_id
        exits.log_exits([(campaign_id, enrolment.person_type, enrolment.person_id)], reason)


def do_step(step: Step, enrolment: Enrolment, person, now) -> tuple[str, EmailQueueItem | None]:
    """The step's side effect; what it did, in a few words, and the queue item of a send."""
    K = Step.Kind
    if step.kind == K.WAIT:
        return "waited", None
    if step.kind == K.SEND:
        return mailings.enqueue(step, enrolment, person)
    model_field = persons.target_field(person)
    if step.kind == K.ADD_TO_LIST:
        added = add_to_target_list(step.target_list, type(person).objects.filter(pk=person.pk))
        return ("added" if added else "already in the list"), None
    if step.kind == K.REMOVE_FROM_LIST:
        entries = TargetListEntry.objects.filter(
            target_list=step.target_list, **{model_field: person.pk}
        )
        return ("removed" if remove_entries(entries) else "not in the list"), None
    if step.kind == K.SET_FIELD:
        if not hasattr(person, step.field_name):
            return f"no field {step.field_name}", None
        setattr(person, step.field_name, step.field_value)
        fields = [step.field_name] + (["updated_at"] if hasattr(person, "updated_at") else [])
        person.save(update_fields=fields)
        return "set", None
    raise ValueError(f"Unknown step kind {step.kind!r}")


def condition_holds(step: Step, enrolment: Enrolment, person) -> bool:
    C = Step.ConditionKind
    if step.condition in (C.OPENED, C.CLICKED):
        item_id = (
            StepRun.objects.filter(enrolment=enrolment, step_id=step.condition_step_id)
            .values_list("queue_item_id", flat=True)
            .first()
        )
        if item_id is None:
            return False
        kinds = ["click"] if step.condition == C.CLICKED else ["open", "click"]
        return TrackingHit.objects.filter(
            queue_item_id=item_id, kind__in=kinds, is_machine=False, is_test=False
        ).exists()
    if step.condition == C.FIELD:
        value = getattr(person, step.field_name, None)
        return str(value or "").strip().lower() == step.field_value.strip().lower()
    if step.condition == C.IN_LIST:
        return TargetListEntry.objects.filter(
            target_list_id=step.target_list_id,
            opted_out=False,
            **{persons.target_field(person): person.pk},
        ).exists()
    return False
