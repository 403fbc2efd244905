"""Admin for automations: the automation with its steps as a readable list (each with the people
waiting at it now and those who passed it), the versions people are on, activate and pause;
the people's side ("Add to automation", a person's automations) is automation/people_admin.py."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from automation import (
    editing,
    engine,
    mailings,
    people_admin,  # noqa: F401  (registers the people's side)
    preview,
    stats,
    versions,
)
from automation import people as persons
from automation.models import Automation, Enrolment, Step, StepRun
from campaigns.admin.templates import search_people
from crm.admin.site import CheckedAutocompleteAdmin, CheckedAutocompleteMixin, action_form_page
from crm.models import TargetType
from targetlists import admin as targetlists_admin  # noqa: F401  (registers what is extended)


class StepInline(CheckedAutocompleteMixin, admin.StackedInline):
    model = Step
    formset = editing.StepFormSet
    extra = 0
    fields = (
        ("order", "kind"),
        "email_template",
        ("wait_kind", "wait_days", "wait_hours", "wait_weekday", "wait_hour", "wait_until"),
        ("condition", "condition_step", "condition_wait_days"),
        ("yes_step", "yes_ends", "no_step", "no_ends"),
        ("target_list", "field_name", "field_value"),
        "figures",
    )
    readonly_fields = ("figures",)
    autocomplete_fields = ("email_template", "target_list")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in versions.BRANCHES:
            automation_id = getattr(request, "_automation_id", None)
            kwargs["queryset"] = Step.objects.current().filter(automation_id=automation_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None and versions.has_started(obj):
            # Saving makes a new version: a deleted step is the new version's copy, where
            # nobody waits (Django's check would look at the old one, where people do).
            form = formset.form
            formset.form = type(form.__name__, (form,), {"hand_clean_DELETE": _no_check})
        return formset

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).current()

    @admin.display(description=_("people"))
    def figures(self, step: Step) -> str:
        if not step.pk:
            return "-"
        return figures_text(stats.step_figures(step))


def _no_check(form) -> None:
    return None


def steps_table(steps) -> str:
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((s.order, s.describe(), figures_text(stats.step_figures(s))) for s in steps),
    )
    return format_html("<table>{}</table>", rows)


def older_notice(version: int, count: int) -> str:
    return ngettext(
        "%(count)d person still on version %(version)s: they finish it, with its steps as "
        "they were.",
        "%(count)d people still on version %(version)s: they finish it, with its steps as "
        "they were.",
        count,
    ) % {"count": count, "version": version}


def figures_text(figures: dict[str, int]) -> str:
    labels = {
        "waiting": _("waiting now"),
        "passed": _("passed"),
        "sent": _("sent"),
        "opened": _("opened"),
        "clicked": _("clicked"),
        "machine_opened": _("opened by machines"),
        "machine_clicked": _("clicked by machines"),
    }
    return ", ".join(f"{figures[key]} {label}" for key, label in labels.items() if key in figures)


@admin.register(Automation)
class AutomationAdmin(CheckedAutocompleteAdmin):
    list_display = ("name", "campaign", "trigger", "status", "active_people", "created_at")
    list_filter = ("status", "trigger", "campaign")
    search_fields = ("name",)
    readonly_fields = ("status", "stopped_emails", "steps_overview", "people")
    autocomplete_fields = ("campaign",)
    fieldsets = (
        (None, {"fields": ("name", "campaign", "status", "steps_overview", "people")}),
        (
            _("Trigger"),
            {
                "fields": (
                    "trigger",
                    "trigger_list",
                    "trigger_signup_form",
                    "trigger_tracking_url",
                    ("trigger_date_field", "trigger_days", "trigger_hour"),
                )
            },
        ),
        (
            _("Exits and re-entry"),
            {
                "fields": (
                    "exit_on_leaving_list",
                    "goal_list",
                    "goal_tracking_url",
                    ("reentry", "reentry_days"),
                )
            },
        ),
    )
    inlines = (StepInline,)
    actions = ("activate", "pause", "move_to_newest_version")
    change_form_template = "admin/automation/automation/change_form.html"

    def get_urls(self):
        preview = self.admin_site.admin_view(self.preview_view)
        return [
            path("<int:pk>/preview/", preview, name="automation_automation_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, pk: int):
        automation = self.get_object(request, str(pk))
        if automation is None or not self.has_view_permission(request, automation):
            raise Http404
        form = PreviewForm(request.GET if "person_id" in request.GET else None)
        term = request.GET.get("q", "").strip()
        lines, person = None, None
        if form.is_valid():
            person = persons.load(form.cleaned_data["person_type"], form.cleaned_data["person_id"])
            if person is None:
                form.add_error("person_id", _("No such person."))
            else:
                lines = preview.preview(automation, person)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Preview as a person: %(name)s") % {"name": automation},
            "opts": self.model._meta,
            "original": automation,
            "form": form,
            "person": person,
            "person_kind": person._meta.model_name if person is not None else "",
            "lines": lines,
            "term": term,
            "matches": search_people(request, term) if term else None,
        }
        return TemplateResponse(request, "admin/automation/preview.html", context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        request._automation_id = obj.pk if obj else None
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj=None):
        """With the emails that stopped sending, and why, under the status when there are."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not mailings.stopped([obj]):
            return fieldsets
        (name, options), *others = fieldsets
        fields = list(options["fields"])
        fields.insert(fields.index("status") + 1, "stopped_emails")
        return [(name, {**options, "fields": fields}), *others]

    @admin.display(description=_("stopped emails"))
    def stopped_emails(self, automation: Automation) -> str:
        reasons = [
            mailings.why_stopped(m.step, m.mass_email) for m in mailings.stopped([automation])
        ]
        return format_html_join("", "<p class='errornote'>{}</p>", ((r,) for r in reasons))

    @admin.display(description=_("people in it"))
    def active_people(self, automation: Automation) -> int:
        return automation.enrolments.filter(status=Enrolment.Status.ACTIVE).count()

    @admin.display(description=_("steps"))
    def steps_overview(self, automation: Automation) -> str:
        steps = list(
            automation.current_steps().select_related(
                "email_template", "target_list", "condition_step", "yes_step", "no_step"
            )
        )
        if not steps:
            return _("No steps yet: add them below.")
        note = _(
            "Once someone has started this version, saving changes to its steps makes a new "
            "version: people already in it finish the version they started, new people start "
            "on the newest. Branches only go forward."
        )
        parts = [
            format_html(
                "<p><strong>{}</strong></p>", _("Version %(n)s") % {"n": automation.version}
            ),
            steps_table(steps),
            format_html("<p class='help'>{}</p>", note),
        ]
        for version, count in versions.people_on_older_versions(automation):
            older = automation.steps.filter(version=version).select_related(
                "email_template", "target_list", "condition_step", "yes_step", "no_step"
            )
            parts.append(
                format_html("<p class='version-notice'>{}</p>", older_notice(version, count))
            )
            parts.append(steps_table(older))
        return format_html_join("", "{}", ((part,) for part in parts))

    @admin.display(description=_("people"))
    def people(self, automation: Automation) -> str:
        figures = stats.people_figures(automation)
        labels = dict(Enrolment.Status.choices) | dict(Enrolment.Reason.choices)
        return ", ".join(f"{n} {labels.get(key, key)}" for key, n in sorted(figures.items())) or "-"

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not Step:
            return super().save_formset(request, form, formset, change)
        made = editing.save_steps(formset)
        if made:
            self.message_user(
                request,
                _(
                    "Saved as version %(new)s. People already in it finish the version they "
                    "started; new people start on version %(new)s. To move them, use the "
                    "action “Move everyone to the newest version”."
                )
                % {"new": made},
                messages.WARNING,
            )
        return None

    @admin.action(description=_("Move everyone to the newest version"), permissions=["change"])
    def move_to_newest_version(self, request: HttpRequest, queryset: QuerySet) -> None:
        for automation in queryset:
            moved = versions.move_to_newest(automation)
            message = ngettext(
                "%(name)s: %(count)d person moved to version %(version)s.",
                "%(name)s: %(count)d people moved to version %(version)s.",
                moved,
            )
            self.message_user(
                request,
                message % {"name": automation, "count": moved, "version": automation.version},
            )

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        automation = form.instance
        problems = automation.problems()
        if automation.status == Automation.Status.ACTIVE and problems:
            engine.pause(automation)
            self.message_user(
                request,
                _("Paused, because its steps cannot run: %(problems)s")
                % {"problems": " ".join(problems)},
                messages.ERROR,
            )

    @admin.action(description=_("Activate"), permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet) -> None:
        for automation in queryset:
            try:
                engine.activate(automation)
            except engine.CannotRun as exc:
                self.message_user(request, f"{automation}: {exc}", messages.ERROR)
            else:
                self.message_user(request, _("%(name)s is active.") % {"name": automation})

    @admin.action(description=_("Pause"), permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet) -> None:
        for automation in queryset:
            engine.pause(automation)
        self.message_user(request, _("Paused: nobody enters or moves on until it is active."))


class MoveForm(forms.Form):
    step = forms.ModelChoiceField(label=_("step"), queryset=Step.objects.none())

    def __init__(self, *args, automation_id: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["step"].queryset = Step.objects.current().filter(automation_id=automation_id)


@admin.register(Enrolment)
class EnrolmentAdmin(admin.ModelAdmin):
    list_display = ("automation", "person_type", "person_id", "step", "due_at", "status")
    list_filter = ("status", "exit_reason", "automation")
    readonly_fields = [f.name for f in Enrolment._meta.fields]
    actions = ("move_to_step",)

    @admin.action(description=_("Move to a step"), permissions=["change"])
    def move_to_step(self, request: HttpRequest, queryset: QuerySet):
        """After editing a live automation: the marketer's explicit choice to move people."""
        active = queryset.filter(status=Enrolment.Status.ACTIVE)
        automations = set(active.values_list("automation_id", flat=True))
        if len(automations) != 1:
            self.message_user(request, _("Choose active people of one automation."), messages.ERROR)
            return None
        (automation_id,) = automations
        form = MoveForm(
            request.POST if "apply" in request.POST else None, automation_id=automation_id
        )
        if form.is_bound and form.is_valid():
            moved = versions.move_to_step(active, form.cleaned_data["step"])
            self.message_user(request, _("%(count)d moved.") % {"count": moved})
            return None
        return action_form_page(
            self,
            request,
            form,
            title=_("Move to a step"),
            action="move_to_step",
            template="admin/automation/move_to_step.html",
            count=active.count(),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(StepRun)
class StepRunAdmin(admin.ModelAdmin):
    list_display = ("enrolment", "step", "ran_at", "outcome")
    list_filter = ("step__automation",)
    readonly_fields = [f.name for f in StepRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class PreviewForm(forms.Form):
    person_type = forms.ChoiceField(label=_("person type"), choices=TargetType.choices)
    person_id = forms.IntegerField(label=_("person id"), min_value=1)
