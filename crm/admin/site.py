"""Admin site branding, and the bases for settings pages (one row) and read-only records."""

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

admin.site.site_header = _("Mass Email")
admin.site.site_title = _("Mass Email")
admin.site.index_title = _("Administration")
# There is no public site to view: "/" only leads back to the admin.
admin.site.site_url = None


class SingletonAdmin(admin.ModelAdmin):
    """A settings page for a model with one row (a `load()` classmethod): the list opens it.

    There is nothing to add or delete; the row is created with its defaults on first visit.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_object(self, request: HttpRequest, object_id: str, from_field=None):
        self.model.load()  # A direct link to the row works on a fresh database too.
        return super().get_object(request, object_id, from_field)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row = self.model.load()
        opts = self.model._meta
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the product writes and people only read (logs, queues, hits).

    Nobody adds or changes them; only superusers may delete.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser


def add_admin_action(model, mixin: type, action: str | None) -> None:
    """Re-register `model`'s admin with `mixin` mixed in and its method `action` offered (None:
    the mixin adds no action, only what else it overrides): how one app extends another app's
    admin without that app importing it."""
    base = type(admin.site.get_model_admin(model))
    attributes = {"__module__": mixin.__module__}
    if action is not None:
        attributes["actions"] = [*(base.actions or ()), action]
    extended = type(base.__name__, (mixin, base), attributes)
    admin.site.unregister(model)
    admin.site.register(model, extended)


class _CheckedSelection:
    """Django's autocomplete widgets look the selected values up to show them again; a value
    that is no id of the target (a tampered form: "x" for an integer key) raised there, a 500
    instead of the form's "Select a valid choice". Such values are left out of that lookup."""

    def optgroups(self, name, value, attr=None):
        remote = self.field.remote_field
        target = remote.model._meta.get_field(getattr(remote, "field_name", None) or "pk")
        kept = []
        for choice in value:
            try:
                prepared = target.get_prep_value(target.to_python(choice))
            except (ValidationError, ValueError, TypeError, OverflowError):
                continue
            if isinstance(prepared, int) and abs(prepared) >= 2**63:
                continue  # past 64 bits: SQLite's IN (…) would overflow
            kept.append(choice)
        return super().optgroups(name, kept, attr)


class CheckedAutocompleteSelect(_CheckedSelection, AutocompleteSelect):
    pass


class CheckedAutocompleteSelectMultiple(_CheckedSelection, AutocompleteSelectMultiple):
    pass


class CheckedAutocompleteMixin:
    """autocomplete_fields with the checked widgets above, for a model admin or an inline."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs.setdefault(
                "widget",
                CheckedAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using")),
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class CheckedAutocompleteAdmin(CheckedAutocompleteMixin, admin.ModelAdmin):
    pass


class CheckedModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A multiple choice whose ids past 64 bits are a form error ("not a valid value"), not
    SQLite's OverflowError from the `IN (…)` lookup (PostgreSQL finds no row either way)."""

    def _check_values(self, value):
        for pk in value or ():
            text = str(pk)
            if text.lstrip("-").isdigit() and abs(int(text)) >= 2**63:
                raise ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": text},
                )
        return super()._check_values(value)


def action_form_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    form: forms.Form,
    *,
    title: str,
    action: str,
    template: str,
    **context,
) -> TemplateResponse:
    """The second step of the admin action `action`, which asks `form` about the selected
    rows: `template` (extending admin/action_form.html) with the selection kept as hidden
    fields, posting back to the same action; `title` names the page and its button."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "form": form,
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "action_name": action,
        "media": model_admin.media + form.media,
        **context,
    }
    return TemplateResponse(request, template, context)
