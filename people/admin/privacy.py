"""On the Account, Contact and Lead admins: consent records on the person's page, and the
actions "Export personal data (JSON)" and "Erase personal data"."""

import json

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm.admin.site import ReadOnlyAdmin, add_admin_action
from crm.models import Account, ConsentRecord, Contact, Lead, SuppressedAddress
from crm.models.people import target_type_of
from people import privacy


class PrivacyMixin:
    """Mixed into the people admins by add_admin_action (crm must not import people)."""

    def get_fields(self, request: HttpRequest, obj=None):
        fields = list(super().get_fields(request, obj))
        return (
            fields if obj is None or "consent_history" in fields else [*fields, "consent_history"]
        )

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return (*super().get_readonly_fields(request, obj), "consent_history")

    @admin.display(description=_("consent records"))
    def consent_history(self, obj) -> str:
        if obj is None or not obj.pk:
            return "–"
        mine = Q(**{target_type_of(obj): obj})
        if obj.email_address_id:
            mine |= Q(email_address_id=obj.email_address_id)
        rows = ConsentRecord.objects.filter(mine).order_by("-at")[:50]
        if not rows:
            return _("None yet.")
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
            _("when"),
            _("action"),
            _("how"),
            _("source"),
            _("text agreed to"),
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        f"{r.at:%Y-%m-%d %H:%M}",
                        r.get_action_display(),
                        r.get_method_display(),
                        r.source,
                        f"{r.text[:200]} (v{r.text_version})" if r.text_version else r.text[:200],
                    )
                    for r in rows
                ),
            ),
        )

    @admin.action(description=_("Export personal data (JSON)"), permissions=["view"])
    def export_personal_data(self, request: HttpRequest, queryset: QuerySet):
        people = list(queryset.select_related("email_address")[:101])
        if len(people) > 100:
            self.message_user(request, _("Export at most 100 records at once."), messages.ERROR)
            return None
        data = [privacy.export_person(person) for person in people]
        response = HttpResponse(
            json.dumps(data[0] if len(data) == 1 else data, indent=2, ensure_ascii=False),
            content_type="application/json; charset=utf-8",
        )
        name = f"{self.model._meta.model_name}-{people[0].pk if len(people) == 1 else 'export'}"
        response["Content-Disposition"] = f'attachment; filename="{name}.json"'
        return response

    @admin.action(description=_("Erase personal data"), permissions=["delete"])
    def erase_personal_data(self, request: HttpRequest, queryset: QuerySet):
        if not self.has_delete_permission(request):
            raise PermissionDenied
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "people": queryset,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/people/erase_confirm.html", context)
        count = 0
        for person in queryset.select_related("email_address"):
            privacy.erase_person(person)
            count += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d record erased; its address is kept only as a hash.",
                "%(count)d records erased; their addresses are kept only as hashes.",
                count,
            )
            % {"count": count},
        )
        return None


for _model in (Account, Contact, Lead):
    add_admin_action(_model, PrivacyMixin, "export_personal_data")
    type(admin.site.get_model_admin(_model)).actions.append("erase_personal_data")


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdmin):
    list_display = ("at", "action", "method", "email", "source", "text_version")
    list_filter = ("action", "method", "at")
    search_fields = ("email", "source")
    date_hierarchy = "at"


@admin.register(SuppressedAddress)
class SuppressedAddressAdmin(ReadOnlyAdmin):
    list_display = ("address_hash", "at")
