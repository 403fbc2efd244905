"""Automations: a trigger, an ordered list of steps, and the people going through them.

An Enrolment is one person's way through one automation: the step it is at and when that step
is due. A StepRun is written, in the same transaction as the step's side effects and before
them, once per (enrolment, step): the unique constraint is what keeps a step from running twice
for a person however many ticks overlap (automation/engine.py).
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from automation import clock
from campaigns.models import Campaign, CampaignLogRecord, EmailQueueItem, MassEmail, TrackingUrl
from crm.models import EmailTemplate
from crm.models.people import TargetType
from people.models import SignupForm
from targetlists.models import TargetList

# Fields of a person a "set a field" step or a "field value" condition may name.
PERSON_FIELDS = ("first_name", "last_name", "title", "phone", "source", "status", "industry")
DATE_FIELDS = (("birthday", _("Birthday")),)


class Automation(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")

    class Trigger(models.TextChoices):
        LIST_JOINED = "list_joined", _("Joined a target list")
        SIGNUP_CONFIRMED = "signup_confirmed", _("Confirmed a signup")
        LINK_CLICKED = "link_clicked", _("Clicked a tracking URL")
        DATE_FIELD = "date_field", _("A date of the person")
        MANUAL = "manual", _("Added by hand")

    class Reentry(models.TextChoices):
        NEVER = "never", _("Never")
        AFTER_DAYS = "after_days", _("After some days")
        ALWAYS = "always", _("Always")

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.PROTECT,
        related_name="automations",
        help_text=_("Its emails land in this campaign's log and results."),
    )
    name = models.CharField(_("name"), max_length=255)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.DRAFT)
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger)
    trigger_list = models.ForeignKey(
        TargetList,
        verbose_name=_("trigger list"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    trigger_signup_form = models.ForeignKey(
        SignupForm,
        verbose_name=_("signup form"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Empty: a confirmation of any form."),
    )
    trigger_tracking_url = models.ForeignKey(
        TrackingUrl,
        verbose_name=_("tracking URL"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    trigger_date_field = models.CharField(
        _("date field"), max_length=30, choices=DATE_FIELDS, blank=True
    )
    trigger_days = models.IntegerField(
        _("days after the date"),
        default=0,
        help_text=_("Negative: days before (e.g. -7 for a week before a birthday)."),
    )
    trigger_hour = models.PositiveSmallIntegerField(
        _("at hour"), default=9, help_text=_("In the installation's time zone, 0-23.")
    )
    exit_on_leaving_list = models.BooleanField(_("leaving the trigger list ends it"), default=False)
    goal_list = models.ForeignKey(
        TargetList,
        verbose_name=_("goal: joined list"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    goal_tracking_url = models.ForeignKey(
        TrackingUrl,
        verbose_name=_("goal: clicked link"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reentry = models.CharField(_("re-entry"), max_length=12, choices=Reentry, default=Reentry.NEVER)
    reentry_days = models.PositiveIntegerField(_("re-entry after days"), default=30)
    # The version new enrolments start on; older versions' steps stay as they were for the
    # people who started on them (automation/versions.py).
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("automation")
        verbose_name_plural = _("automations")
        ordering = ["name"]
        indexes = [models.Index(fields=["status", "trigger"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        needs = {
            self.Trigger.LIST_JOINED: ("trigger_list", _("Choose the list people join.")),
            self.Trigger.LINK_CLICKED: ("trigger_tracking_url", _("Choose the tracking URL.")),
            self.Trigger.DATE_FIELD: ("trigger_date_field", _("Choose the date field.")),
        }
        if self.trigger in needs:
            field, message = needs[self.trigger]
            if not getattr(self, field if field.endswith("field") else f"{field}_id"):
                raise ValidationError({field: message})
        if self.exit_on_leaving_list and self.trigger != self.Trigger.LIST_JOINED:
            raise ValidationError(
                {"exit_on_leaving_list": _("Only an automation triggered by a list has one.")}
            )
        if not 0 <= self.trigger_hour <= 23:
            raise ValidationError({"trigger_hour": _("An hour from 0 to 23.")})

    def problems(self) -> list[str]:
        """Why this automation's steps cannot run; empty when they can."""
        steps = list(self.current_steps())
        if not steps:
            return [str(_("An automation needs at least one step."))]
        found = []
        for step in steps:
            found += [f"{step}: {problem}" for problem in step.problems()]
        return found

    def current_steps(self) -> models.QuerySet:
        """The steps of the version new enrolments start on, in order."""
        return self.steps.filter(version=self.version).order_by("order")


class StepQuerySet(models.QuerySet):
    def current(self) -> "StepQuerySet":
        """The steps of their automation's current version (older versions' stay as they were,
        for the people still on them: automation/versions.py)."""
        return self.filter(version=models.F("automation__version"))


class Step(models.Model):
    class Kind(models.TextChoices):
        WAIT = "wait", _("Wait")
        SEND = "send", _("Send an email")
        CONDITION = "condition", _("Condition")
        ADD_TO_LIST = "add_to_list", _("Add to a list")
        REMOVE_FROM_LIST = "remove_from_list", _("Remove from a list")
        SET_FIELD = "set_field", _("Set a field")

    class WaitKind(models.TextChoices):
        DURATION = "duration", _("For a time")
        WEEKDAY = "weekday", _("Until a weekday and hour")
        DATE = "date", _("Until a date")

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    class ConditionKind(models.TextChoices):
        OPENED = "opened", _("Opened an earlier step's email")
        CLICKED = "clicked", _("Clicked in an earlier step's email")
        FIELD = "field", _("A field has a value")
        IN_LIST = "in_list", _("Member of a list")

    automation = models.ForeignKey(
        Automation, verbose_name=_("automation"), on_delete=models.CASCADE, related_name="steps"
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    # The step of the previous version this one was copied from: the same step, edited or not.
    origin = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    order = models.PositiveIntegerField(_("order"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind)
    # Wait
    wait_kind = models.CharField(_("wait"), max_length=10, choices=WaitKind, blank=True)
    wait_days = models.PositiveIntegerField(_("days"), default=0)
    wait_hours = models.PositiveIntegerField(_("hours"), default=0)
    wait_weekday = models.PositiveSmallIntegerField(
        _("weekday"), choices=Weekday, null=True, blank=True
    )
    wait_hour = models.PositiveSmallIntegerField(_("at hour"), null=True, blank=True)
    wait_until = models.DateTimeField(_("until"), null=True, blank=True)
    # Send
    email_template = models.ForeignKey(
        EmailTemplate,
        verbose_name=_("email template"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Condition
    condition = models.CharField(_("condition"), max_length=10, choices=ConditionKind, blank=True)
    condition_step = models.ForeignKey(
        "self",
        verbose_name=_("earlier step"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    condition_wait_days = models.PositiveIntegerField(
        _("wait for it up to days"),
        default=0,
        help_text=_("0: decide at once. Otherwise: yes as soon as it holds, no after the days."),
    )
    yes_step = models.ForeignKey(
        "self",
        verbose_name=_("if yes, go to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Empty: the next step."),
    )
    no_step = models.ForeignKey(
        "self",
        verbose_name=_("if no, go to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Empty: the next step."),
    )
    yes_ends = models.BooleanField(_("if yes, end here"), default=False)
    no_ends = models.BooleanField(_("if no, end here"), default=False)
    # Lists, fields (and the field / list conditions)
    target_list = models.ForeignKey(
        TargetList,
        verbose_name=_("target list"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    field_name = models.CharField(
        _("field"), max_length=30, blank=True, choices=[(f, f) for f in PERSON_FIELDS]
    )
    field_value = models.CharField(_("value"), max_length=255, blank=True)

    objects = StepQuerySet.as_manager()

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["automation", "version", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["automation", "version", "order"], name="step_order_once_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.get_kind_display()}"

    def clean(self) -> None:
        problems = self.problems()
        if problems:
            raise ValidationError(problems)

    def problems(self) -> list[str]:
        """Why this step cannot run; empty when it can."""
        found = []
        K = self.Kind
        if self.kind == K.SEND and not self.email_template_id:
            found.append(_("a send step needs an email template."))
        if self.kind == K.WAIT:
            if not self.wait_kind:
                found.append(_("a wait step needs to say how long."))
            elif self.wait_kind == self.WaitKind.DURATION and not (
                self.wait_days or self.wait_hours
            ):
                found.append(_("a wait for a time needs days or hours."))
            elif self.wait_kind == self.WaitKind.WEEKDAY and (
                self.wait_weekday is None or self.wait_hour is None
            ):
                found.append(_("a wait until a weekday needs the weekday and the hour."))
            elif self.wait_kind == self.WaitKind.DATE and not self.wait_until:
                found.append(_("a wait until a date needs the date."))
        if self.wait_hour is not None and self.wait_hour > 23:
            found.append(_("an hour is from 0 to 23."))
        if self.kind in (K.ADD_TO_LIST, K.REMOVE_FROM_LIST) and not self.target_list_id:
            found.append(_("choose the target list."))
        if self.kind == K.SET_FIELD and not self.field_name:
            found.append(_("choose the field to set."))
        if self.kind == K.CONDITION:
            found += self._condition_problems()
        return [str(problem) for problem in found]

    def _condition_problems(self) -> list:
        found = []
        C = self.ConditionKind
        if not self.condition:
            found.append(_("a condition needs to say what it checks."))
        if self.condition in (C.OPENED, C.CLICKED):
            earlier = self.condition_step
            if earlier is None or earlier.kind != self.Kind.SEND:
                found.append(_("choose the earlier send step whose email it checks."))
            elif (
                earlier.automation_id != self.automation_id
                or earlier.version != self.version
                or earlier.order >= self.order
            ):
                found.append(_("the send step it checks must come before it, in this automation."))
        if self.condition == C.FIELD and not self.field_name:
            found.append(_("choose the field it checks."))
        if self.condition == C.IN_LIST and not self.target_list_id:
            found.append(_("choose the list it checks."))
        for branch in (self.yes_step, self.no_step):
            if branch is None:
                continue
            if branch.automation_id != self.automation_id or branch.version != self.version:
                found.append(_("a branch goes to a step of another automation: to nowhere."))
            elif branch.order <= self.order:
                found.append(
                    _("a branch must go forward (to step %(order)s or later).")
                    % {"order": self.order + 1}
                )
        if self.yes_ends and self.yes_step_id:
            found.append(_("“if yes” either ends here or goes to a step, not both."))
        if self.no_ends and self.no_step_id:
            found.append(_("“if no” either ends here or goes to a step, not both."))
        return found

    def describe(self) -> str:
        """The step in a sentence, as the automation's page lists it."""
        K = self.Kind
        if self.kind == K.WAIT:
            if self.wait_kind == self.WaitKind.DURATION:
                return _("Wait %(days)s days %(hours)s hours") % {
                    "days": self.wait_days,
                    "hours": self.wait_hours,
                }
            if self.wait_kind == self.WaitKind.WEEKDAY and self.wait_weekday is not None:
                return _("Wait until %(day)s at %(hour)s:00") % {
                    "day": self.get_wait_weekday_display(),
                    "hour": self.wait_hour,
                }
            return _("Wait until %(date)s") % {"date": self.wait_until}
        if self.kind == K.SEND:
            return _("Send “%(template)s”") % {"template": self.email_template}
        if self.kind == K.CONDITION:
            checks = {
                self.ConditionKind.OPENED: _("opened the email of step %(step)s"),
                self.ConditionKind.CLICKED: _("clicked in the email of step %(step)s"),
                self.ConditionKind.FIELD: _("%(field)s is “%(value)s”"),
                self.ConditionKind.IN_LIST: _("is in the list “%(list)s”"),
            }
            check = str(checks.get(self.condition, "?")) % {
                "step": self.condition_step.order if self.condition_step else "?",
                "field": self.field_name,
                "value": self.field_value,
                "list": self.target_list,
            }
            yes = (
                _("end") if self.yes_ends else (self.yes_step.order if self.yes_step else _("next"))
            )
            no = _("end") if self.no_ends else (self.no_step.order if self.no_step else _("next"))
            text = _("If %(check)s: yes → %(yes)s, no → %(no)s") % {
                "check": check,
                "yes": yes,
                "no": no,
            }
            if self.condition_wait_days:
                text += " " + _("(waits up to %(days)s days)") % {"days": self.condition_wait_days}
            return text
        if self.kind == K.ADD_TO_LIST:
            return _("Add to “%(list)s”") % {"list": self.target_list}
        if self.kind == K.REMOVE_FROM_LIST:
            return _("Remove from “%(list)s”") % {"list": self.target_list}
        return _("Set %(field)s to “%(value)s”") % {
            "field": self.field_name,
            "value": self.field_value,
        }

    def wait_ends(self, start: datetime.datetime, tz) -> datetime.datetime:
        """When a wait that begins at `start` is over: its days keep the hour on `tz`'s clock
        across a daylight saving change, its hours are counted as they pass; a weekday and
        hour are read in `tz`."""
        if self.wait_kind == self.WaitKind.DURATION:
            later = clock.days_later(start, self.wait_days, tz)
            return later + datetime.timedelta(hours=self.wait_hours)
        if self.wait_kind == self.WaitKind.DATE:
            return max(start, self.wait_until)
        local = start.astimezone(tz)
        days = (self.wait_weekday - local.weekday()) % 7
        moment = (local + datetime.timedelta(days=days)).replace(
            hour=self.wait_hour, minute=0, second=0, microsecond=0
        )
        if moment <= local:
            moment = moment + datetime.timedelta(days=7)
        return moment


class StepMailing(models.Model):
    """The mass email a send step's messages go out as, one per entry round (a person who
    enters again gets the step's email again, and a mass email holds an address once). It is
    In Process for good (MassEmail.automated), so the send job sends what is queued to it."""

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="mailings")
    round = models.PositiveIntegerField(default=1)
    mass_email = models.OneToOneField(MassEmail, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["step", "round"], name="stepmailing_once_per_round")
        ]

    def __str__(self) -> str:
        return f"{self.step} ({self.round})"


class Enrolment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        EXITED = "exited", _("Exited")

    Reason = CampaignLogRecord.ExitReason  # each exit is also a record of the campaign log

    automation = models.ForeignKey(
        Automation,
        verbose_name=_("automation"),
        on_delete=models.CASCADE,
        related_name="enrolments",
    )
    person_type = models.CharField(_("person type"), max_length=16, choices=TargetType.choices)
    person_id = models.BigIntegerField(_("person id"))
    entry = models.PositiveIntegerField(_("entry"), default=1)
    step = models.ForeignKey(
        Step,
        verbose_name=_("step"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # a step people wait at cannot be deleted
        related_name="enrolments",
    )
    step_since = models.DateTimeField(_("at this step since"))
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.ACTIVE)
    exit_reason = models.CharField(_("exit reason"), max_length=16, choices=Reason, blank=True)
    entered_at = models.DateTimeField(_("entered at"))
    # A date trigger's occurrence this enrolment is for (this year's birthday): once each.
    occurrence = models.DateField(_("for the date"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True, editable=False)
    leased_by = models.CharField(max_length=100, blank=True, editable=False)

    class Meta:
        verbose_name = _("enrolment")
        verbose_name_plural = _("enrolments")
        ordering = ["-entered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["automation", "person_type", "person_id"],
                condition=models.Q(status="active"),
                name="enrolment_active_once",
            ),
            # Overlapping ticks never enrol a person twice for the same birthday.
            models.UniqueConstraint(
                fields=["automation", "person_type", "person_id", "occurrence"],
                condition=models.Q(occurrence__isnull=False),
                name="enrolment_once_per_occurrence",
            ),
        ]
        indexes = [
            # What a claim reads, in its order: due active enrolments (due_at, id).
            models.Index(
                fields=["due_at", "id"], condition=models.Q(status="active"), name="enrolment_due"
            ),
            models.Index(fields=["person_type", "person_id"], name="enrolment_person"),
        ]

    def __str__(self) -> str:
        return f"{self.automation}: {self.person_type} #{self.person_id}"


class StepRun(models.Model):
    """A step done for an enrolment: written before its side effects, in their transaction."""

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="runs")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="runs")
    ran_at = models.DateTimeField(_("ran at"))
    outcome = models.CharField(_("outcome"), max_length=100, blank=True)
    queue_item = models.ForeignKey(
        EmailQueueItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Run on an older version's same step, before the person was moved to this version: it
    # counts as run (never again), not as passed here. db_default: the engine inserts with SQL.
    carried = models.BooleanField(_("carried over"), default=False, db_default=False)

    class Meta:
        verbose_name = _("step run")
        verbose_name_plural = _("step runs")
        ordering = ["ran_at", "id"]
        constraints = [models.UniqueConstraint(fields=["enrolment", "step"], name="steprun_once")]

    def __str__(self) -> str:
        return f"{self.enrolment} · {self.step}: {self.outcome}"
