"""The people's side of automations in the admin: "Add to automation" on accounts, contacts,
leads, users and target lists (added by hand), and on a person's page (a user's too) every
automation they are or were in, its times in the installation's time zone."""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from automation import engine
from automation.models import Automation, Enrolment
from crm.admin.site import action_form_page, add_admin_action
from crm.models import Account, Contact, Lead
from targetlists import admin as targetlists_admin  # noqa: F401  (registers what is extended)
from targetlists.models import TargetList, TargetListEntry


class AddToAutomationForm(forms.Form):
    automation = forms.ModelChoiceField(
        label=_("Automation"), queryset=Automation.objects.filter(status=Automation.Status.ACTIVE)
    )


class AddToAutomationMixin:
    """Adds "Add to automation" (its page asks which active automation) to a people admin or
    the target list admin (then the lists' members, not opted out)."""

    def has_add_to_automation_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("automation.change_automation")

    @admin.action(description=_("Add to automation"), permissions=["add_to_automation"])
    def add_to_automation(self, request: HttpRequest, queryset: QuerySet):
        form = AddToAutomationForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            automation = form.cleaned_data["automation"]
            added = engine.add_by_hand(automation, people_of(queryset))
            message = ngettext(
                "%(count)d person added to “%(name)s”.",
                "%(count)d people added to “%(name)s”.",
                added,
            )
            self.message_user(request, message % {"count": added, "name": automation})
            return None
        return action_form_page(
            self,
            request,
            form,
            title=_("Add to automation"),
            action="add_to_automation",
            template="admin/automation/add_to_automation.html",
            count=queryset.count(),
        )


def people_of(queryset: QuerySet) -> list[tuple[str, int]]:
    """(type, id) of the selected people, or of the selected lists' members."""
    if queryset.model is TargetList:
        entries = TargetListEntry.objects.filter(target_list__in=queryset, opted_out=False)
        found = []
        for entry in entries.values("account_id", "contact_id", "lead_id", "user_id"):
            found += [(key[:-3], value) for key, value in entry.items() if value]
        return found
    person_type = queryset.model._meta.model_name
    return [(person_type, pk) for pk in queryset.values_list("pk", flat=True)]


class AutomationsOfPersonMixin:
    """A person's page: every automation they are or were in, the step, when the next one
    happens, and what happened before."""

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [*super().get_readonly_fields(request, obj), "automations_of_person"]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None:
            return fieldsets
        return [*fieldsets, (_("Automations"), {"fields": ["automations_of_person"]})]

    @admin.display(description=_("automations"))
    def automations_of_person(self, person) -> str:
        enrolments = (
            Enrolment.objects.filter(person_type=person._meta.model_name, person_id=person.pk)
            .select_related("automation", "step")
            .prefetch_related("runs__step")
            .order_by("-entered_at")
        )
        rows = []
        for e in enrolments:
            if e.status == Enrolment.Status.ACTIVE and e.step is not None:
                now = _("at step %(step)s, next on %(due)s") % {
                    "step": f"{e.step.order}. {e.step.describe()}",
                    "due": local(e.due_at),
                }
            else:
                now = e.get_exit_reason_display() or e.get_status_display()
            before = "; ".join(
                f"{r.step.order}. {r.outcome} ({local(r.ran_at)})"
                for r in e.runs.all()
                if not r.carried  # the same run, on the version they were moved to
            )
            rows.append((e.automation, local(e.entered_at), now, before or "-"))
        if not rows:
            return _("In no automation.")
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        head = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("automation"),
            _("entered at"),
            _("now"),
            _("before"),
        )
        return format_html("<table>{}{}</table>", head, body)


def local(moment) -> str:
    """A time as the marketer's clock shows it (the installation's time zone), not UTC."""
    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i") if moment else "-"


for _model in (Account, Contact, Lead, get_user_model(), TargetList):
    add_admin_action(_model, AddToAutomationMixin, "add_to_automation")
for _model in (Account, Contact, Lead, get_user_model()):
    add_admin_action(_model, AutomationsOfPersonMixin, None)
