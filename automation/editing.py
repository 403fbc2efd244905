"""The step editor's formset: it edits the current version's steps, refuses what the database
would refuse with a clear message, and once someone has started the version saves the edit
as a new version (automation/versions.py), so nobody's steps change under them."""

from django.core.exceptions import ValidationError
from django.db.models import F
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext as _

from automation import versions
from automation.models import Automation, Step

# Orders of moved and deleted steps are parked this far up while the edit saves (a swap).
PARKED = 1_000_000


class StepFormSet(BaseInlineFormSet):
    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        if form.instance.pk is None:  # a new step belongs to the version being edited
            form.instance.version = self.instance.version
        return form

    def clean(self) -> None:
        super().clean()
        kept = [f for f in self.forms if f.has_changed() or f.instance.pk]
        kept = [f for f in kept if f not in self.deleted_forms and f.cleaned_data]
        orders = [f.cleaned_data.get("order") for f in kept]
        twice = sorted({order for order in orders if order is not None and orders.count(order) > 1})
        if twice:
            raise ValidationError(
                _("Two steps have the same order: %(orders)s.")
                % {"orders": ", ".join(map(str, twice))}
            )
        deleted = {f.instance.pk for f in self.deleted_forms if f.instance.pk}
        for form in kept:
            for name in versions.BRANCHES:
                target = form.cleaned_data.get(name)
                if target is not None and target.pk in deleted:
                    raise ValidationError(
                        _("Step %(order)s is deleted, but step %(from)s still refers to it.")
                        % {"order": target.order, "from": form.cleaned_data.get("order")}
                    )


def save_steps(formset: StepFormSet) -> int | None:
    """Save the edited steps; the number of the new version if the edit made one."""
    automation: Automation = formset.instance
    made = None
    if formset.has_changed() and versions.has_started(automation):
        copies = versions.new_version(automation)
        for form in formset.forms:
            _onto_copies(form.instance, copies, automation.version)
        made = automation.version
    moving = [  # out of the way of the orders being saved
        f.instance.pk
        for f in formset.initial_forms
        if "order" in f.changed_data or f in formset.deleted_forms
    ]
    Step.objects.filter(pk__in=moving).update(order=F("order") + PARKED)
    formset.save()
    return made


def _onto_copies(step: Step, copies: dict[int, Step], version: int) -> None:
    """Point an edited step (not saved yet) at its copy in the new version, and its branches
    at theirs: the edit then changes the copies, and the old version stays as it was."""
    if step.pk in copies:
        step.origin_id = step.pk
        step.pk = copies[step.pk].pk
    step.version = version
    for name in versions.BRANCHES:
        target_id = getattr(step, f"{name}_id")
        if target_id in copies:
            setattr(step, name, copies[target_id])
