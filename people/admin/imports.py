"""Admin pages of CSV imports: upload, map columns with a preview, progress, summary, undo."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from people import import_undo, imports
from people.columns import fields_for
from people.csv_files import UnreadableFile
from people.models import PeopleImport
from targetlists.models import TargetList


class UploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file"))
    kind = forms.ChoiceField(label=_("Records"), choices=PeopleImport.Kind.choices)
    purpose = forms.ChoiceField(label=_("Purpose"), choices=PeopleImport.Purpose.choices)
    duplicates = forms.ChoiceField(
        label=_("Records that exist (same address)"), choices=PeopleImport.Duplicates.choices
    )
    target_list = forms.ModelChoiceField(
        label=_("Add everyone to the target list"),
        queryset=TargetList.objects.all(),
        required=False,
    )
    new_list_name = forms.CharField(
        label=_("… or to a new target list named"), max_length=255, required=False
    )
    consent_text = forms.CharField(
        label=_("Consent the people gave"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=PeopleImport._meta.get_field("consent_text").help_text,
    )


@admin.register(PeopleImport)
class PeopleImportAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "kind",
        "purpose",
        "status",
        "created",
        "updated",
        "skipped",
        "rejected",
        "created_at",
        "created_by",
    )
    list_filter = ("status", "kind", "purpose")
    change_form_template = "admin/people/peopleimport/detail.html"
    fields = (
        "original_name",
        "kind",
        "purpose",
        "duplicates",
        "target_list",
        "consent_text",
        "encoding",
        "delimiter",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "undone_at",
    )

    def delete_model(self, request: HttpRequest, obj: PeopleImport) -> None:
        imports.delete_import(obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for row in queryset:
            imports.delete_import(row)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # what an import did is a record; its page shows it, nothing to edit

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/mapping/", wrap(self.mapping_view), name="people_peopleimport_mapping"),
            path("<int:pk>/progress/", wrap(self.progress_view), name="people_import_progress"),
            path("<int:pk>/rejected/", wrap(self.rejected_view), name="people_import_rejected"),
            path("<int:pk>/undo/", wrap(self.undo_view), name="people_import_undo"),
            path("<int:pk>/resume/", wrap(self.resume_view), name="people_import_resume"),
            *super().get_urls(),
        ]

    def _import(self, request: HttpRequest, pk: int, change: bool = True) -> PeopleImport:
        allowed = self.has_add_permission(request) if change else self.has_view_permission(request)
        if not allowed:
            raise PermissionDenied
        return get_object_or_404(PeopleImport, pk=pk)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                draft = imports.upload(
                    data["file"],
                    kind=data["kind"],
                    purpose=data["purpose"],
                    duplicates=data["duplicates"],
                    user=request.user,
                    target_list=data["target_list"],
                    new_list_name=data["new_list_name"].strip(),
                    consent_text=data["consent_text"].strip(),
                )
            except UnreadableFile as exc:
                form.add_error("file", _("This file cannot be read as CSV: %s") % exc)
            else:
                return HttpResponseRedirect(
                    reverse("admin:people_peopleimport_mapping", args=[draft.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            # As on every admin add page (tests and tools read the form from here).
            "adminform": helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {}),
        }
        return TemplateResponse(request, "admin/people/peopleimport/upload.html", context)

    def mapping_view(self, request: HttpRequest, pk: int):
        draft = self._import(request, pk)
        if draft.status != PeopleImport.Status.DRAFT:
            return HttpResponseRedirect(reverse("admin:people_peopleimport_change", args=[pk]))
        mapping = draft.mapping
        if request.method == "POST":
            mapping = [request.POST.get(f"column_{i}", "") for i in range(len(draft.header))]
        problems = imports.check_problems(draft, mapping)
        if request.method == "POST" and "start" in request.POST and not problems:
            try:
                imports.start(draft, mapping)
            except imports.CannotStart as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, _("The import has started."))
                return HttpResponseRedirect(reverse("admin:people_peopleimport_change", args=[pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "draft": draft,
            "columns": list(zip(range(len(draft.header)), draft.header, mapping, strict=True)),
            "fields": fields_for(draft.kind, draft.is_suppression),
            "rows": imports.preview(draft, mapping),
            "problems": problems,
        }
        return TemplateResponse(request, "admin/people/peopleimport/mapping.html", context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["undo_problem"] = import_undo.undo_problem(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def progress_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        row = self._import(request, pk, change=False)
        return JsonResponse(
            {
                "status": row.status,
                "status_label": str(row.get_status_display()),
                "percent": row.progress_percent,
                "rows": row.rows,
                "created": row.created,
                "updated": row.updated,
                "skipped": row.skipped,
                "rejected": row.rejected,
                "undo_removed": row.undo_removed,
                "undo_restored": row.undo_restored,
            }
        )

    def rejected_view(self, request: HttpRequest, pk: int) -> FileResponse:
        row = self._import(request, pk, change=False)
        if not row.rejected_file:
            raise Http404
        name = row.rejected_file.name.rsplit("/", 1)[-1]
        return FileResponse(
            row.rejected_file.open("rb"), as_attachment=True, filename=name, content_type="text/csv"
        )

    def undo_view(self, request: HttpRequest, pk: int):
        return self._act(request, pk, import_undo.request_undo, _("The import is being undone."))

    def resume_view(self, request: HttpRequest, pk: int):
        return self._act(request, pk, imports.resume, _("The import goes on where it stopped."))

    def _act(self, request: HttpRequest, pk: int, action, done_message) -> HttpResponseRedirect:
        """On POST, `action(import)` (it raises ValueError saying why not), then the import's
        page with the outcome."""
        row = self._import(request, pk)
        if request.method == "POST":
            try:
                action(row)
            except ValueError as exc:  # CannotUndo, CannotStart
                messages.error(request, str(exc))
            else:
                messages.success(request, done_message)
        return HttpResponseRedirect(reverse("admin:people_peopleimport_change", args=[pk]))
