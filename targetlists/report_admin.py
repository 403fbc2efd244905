"""Admin for reports: conditions edited in rows, what the report matches shown on its page, and
"Sync target lists now" (registered from targetlists.admin)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from targetlists import report_fields, reports
from targetlists.models import Report, ReportCondition

PREVIEW_RECORDS = 10


class ConditionForm(forms.ModelForm):
    field = forms.ChoiceField(label=_("field"), choices=report_fields.field_choices)
    operator = forms.ChoiceField(label=_("operator"), choices=report_fields.operator_choices)

    class Meta:
        model = ReportCondition
        fields = ("field", "operator", "value")


class ConditionFormSet(BaseInlineFormSet):
    """Checks each condition against the report's kind of record, in words for the marketer."""

    def clean(self) -> None:
        super().clean()
        entity = self.instance.entity
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get("field"):
                continue
            try:
                reports.validate(entity, data["field"], data["operator"], data.get("value", ""))
            except ValidationError as exc:
                form.add_error(None, exc)


class ConditionInline(admin.TabularInline):
    model = ReportCondition
    form = ConditionForm
    formset = ConditionFormSet
    extra = 1

    def get_formset(self, request: HttpRequest, obj: Report | None = None, **kwargs):
        """The field menu offers the fields of the report's kind of record (all, in groups,
        until the report is saved with one)."""
        choices = report_fields.entity_field_choices(obj.entity if obj is not None else None)
        field = forms.ChoiceField(label=_("field"), choices=choices)
        kwargs["form"] = type("EntityConditionForm", (ConditionForm,), {"field": field})
        return super().get_formset(request, obj, **kwargs)


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("name", "entity", "sync_hourly", "last_synced_at", "last_sync_summary")
    list_filter = ("entity", "sync_hourly")
    search_fields = ("name",)
    filter_horizontal = ("target_lists",)
    inlines = [ConditionInline]
    readonly_fields = ("matches", "last_synced_at", "last_sync_summary")
    fieldsets = (
        (None, {"fields": ("name", "entity", "match")}),
        (
            _("Target lists"),
            {"fields": ("target_lists", "sync_hourly", "remove_unmatched")},
        ),
        (_("Results"), {"fields": ("matches", "last_synced_at", "last_sync_summary")}),
    )
    actions = ["sync_now"]

    @admin.display(description=_("matching records"))
    def matches(self, report: Report) -> str:
        if report.pk is None:
            return _("Save the report to see what it matches.")
        try:
            records = reports.matching(report)
            count = records.count()
        except ValidationError as exc:
            return format_html("{}", " ".join(exc.messages))
        first = records.order_by("pk")[:PREVIEW_RECORDS]
        listed = format_html_join("", "<li>{}</li>", ((str(record),) for record in first))
        total = ngettext("%(count)s record", "%(count)s records", count) % {"count": count}
        return format_html("<strong>{}</strong><ul>{}</ul>", total, listed)

    @admin.action(description=_("Sync target lists now"))
    def sync_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        for report in queryset.prefetch_related("conditions"):
            try:
                result = reports.sync(report)
            except ValidationError as exc:
                self.message_user(request, f"{report}: {' '.join(exc.messages)}", messages.ERROR)
                continue
            self.message_user(request, f"{report}: {result}", messages.SUCCESS)
