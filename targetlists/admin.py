"""Admin for target lists and their entries, and the "Add to target list" action on people.

The action is added here to the Account, Contact, Lead and User admins (crm must not import
targetlists). It works on the admin's queryset as given, so "select all" of a filtered search
becomes one INSERT … SELECT and no record is loaded into Python.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm.admin import people  # noqa: F401  (registers the people admins extended below)
from crm.admin.site import CheckedAutocompleteAdmin, action_form_page, add_admin_action
from crm.models import Account, Contact, Lead, TargetFields, TargetType
from targetlists import (
    adding,
    report_admin,  # noqa: F401  (registers the report admin)
)
from targetlists.models import TargetList, TargetListCategory, TargetListEntry


@admin.register(TargetListCategory)
class TargetListCategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)


def entries_url(target_list: TargetList, **filters) -> str:
    query = {"target_list__id__exact": target_list.pk, **filters}
    return f"{reverse('admin:targetlists_targetlistentry_changelist')}?{urlencode(query)}"


@admin.register(TargetList)
class TargetListAdmin(admin.ModelAdmin):
    list_display = ("name", "category", "entry_count", "opted_out_count", "created_at")
    list_filter = ("category", "created_at")
    search_fields = ("name", "description")
    fields = ("name", "category", "description", "entries_by_type", "created_at")
    readonly_fields = ("entries_by_type", "created_at")
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("category")
            .annotate(
                entry_count=Count("entries"),
                opted_out_count=Count("entries", filter=Q(entries__opted_out=True)),
            )
        )

    @admin.display(description=_("entries"), ordering="entry_count")
    def entry_count(self, obj: TargetList) -> str:
        return format_html('<a href="{}">{}</a>', entries_url(obj), obj.entry_count)

    @admin.display(description=_("opted out"), ordering="opted_out_count")
    def opted_out_count(self, obj: TargetList) -> int:
        return obj.opted_out_count

    @admin.display(description=_("entries by type"))
    def entries_by_type(self, obj: TargetList) -> str:
        if not obj.pk:
            return _("Save the list, then add people from the Accounts, Contacts, Leads or Users.")
        fields = TargetFields.TARGET_FIELDS
        totals = TargetListEntry.objects.filter(target_list=obj).aggregate(
            **{f"{field}_all": Count(field) for field in fields},
            **{f"{field}_out": Count(field, filter=Q(opted_out=True)) for field in fields},
        )
        rows = [
            {
                "label": TargetType(field).label,
                "count": totals[f"{field}_all"],
                "url": entries_url(obj, type=field),
                "opted_out": totals[f"{field}_out"],
                "opted_out_url": entries_url(obj, type=field, opted_out__exact=1),
            }
            for field in fields
        ]
        context = {
            "rows": rows,
            "count": sum(row["count"] for row in rows),
            "url": entries_url(obj),
            "opted_out": sum(row["opted_out"] for row in rows),
            "opted_out_url": entries_url(obj, opted_out__exact=1),
            "add_url": f"{reverse('admin:targetlists_targetlistentry_add')}?target_list={obj.pk}",
        }
        return render_to_string("admin/targetlists/targetlist/entries_by_type.html", context)


class TargetTypeFilter(admin.SimpleListFilter):
    title = _("type")
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return TargetType.choices

    def queryset(self, request, queryset):
        if self.value() in TargetFields.TARGET_FIELDS:
            return queryset.filter(**{f"{self.value()}__isnull": False})
        return queryset


class TargetListEntryForm(forms.ModelForm):
    class Meta:
        model = TargetListEntry
        fields = ("target_list", "account", "contact", "lead", "user", "opted_out")

    def clean(self) -> dict:
        cleaned = super().clean()
        chosen = [field for field in TargetFields.TARGET_FIELDS if cleaned.get(field)]
        if len(chosen) != 1:
            raise forms.ValidationError(
                _("Choose exactly one account, contact, lead or user for this entry.")
            )
        return cleaned


@admin.register(TargetListEntry)
class TargetListEntryAdmin(CheckedAutocompleteAdmin):
    form = TargetListEntryForm
    list_display = ("person", "type_label", "email", "opted_out", "target_list", "added_at")
    # The person column links to the person, so the entry itself opens from its type.
    list_display_links = ("type_label",)
    list_editable = ("opted_out",)
    list_filter = (TargetTypeFilter, "opted_out", "target_list")
    list_select_related = (
        "target_list",
        "account__email_address",
        "contact__email_address",
        "lead__email_address",
        "user",
    )
    list_per_page = 100
    search_fields = (
        "account__name",
        "account__email_address__address",
        "contact__first_name",
        "contact__last_name",
        "contact__email_address__address",
        "lead__first_name",
        "lead__last_name",
        "lead__email_address__address",
        "user__username",
        "user__first_name",
        "user__last_name",
        "user__email",
    )
    autocomplete_fields = ("target_list", "account", "contact", "lead", "user")
    actions = ("mark_opted_out", "mark_opted_in", "remove_from_target_list")

    def changelist_view(self, request: HttpRequest, extra_context=None):
        list_id = request.GET.get("target_list__id__exact", "")
        target_list = TargetList.objects.filter(pk=list_id).first() if list_id.isdigit() else None
        if target_list is not None:
            title = _("Entries of the target list “%(name)s”") % {"name": target_list}
            extra_context = {"title": title, **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("person"))
    def person(self, obj: TargetListEntry) -> str:
        target = obj.target
        opts = target._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[target.pk])
        label = target.name if hasattr(target, "name") else target.get_full_name() or target
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description=_("type"))
    def type_label(self, obj: TargetListEntry) -> str:
        return TargetType(obj.target_type).label

    @admin.display(description=_("email"))
    def email(self, obj: TargetListEntry) -> str:
        return obj.target.email

    @admin.action(description=_("Mark selected entries opted out of their list"))
    def mark_opted_out(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = adding.opt_out_entries(queryset)
        message = ngettext(
            "%(count)d entry marked opted out.", "%(count)d entries marked opted out.", count
        )
        self.message_user(request, message % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Unmark selected entries as opted out"))
    def mark_opted_in(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = queryset.filter(opted_out=True).update(opted_out=False)
        message = ngettext(
            "%(count)d entry no longer opted out.", "%(count)d entries no longer opted out.", count
        )
        self.message_user(request, message % {"count": count}, messages.SUCCESS)

    @admin.action(
        description=_("Remove selected entries from their target list"), permissions=["delete"]
    )
    def remove_from_target_list(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = adding.remove_entries(queryset)
        message = ngettext(
            "%(count)d entry removed from its list.", "%(count)d entries removed.", count
        )
        self.message_user(request, message % {"count": count}, messages.SUCCESS)


class AddToTargetListForm(forms.Form):
    target_list = forms.ModelChoiceField(
        label=_("Existing target list"), queryset=TargetList.objects.all(), required=False
    )
    new_list_name = forms.CharField(label=_("or a new list named"), max_length=255, required=False)

    def __init__(self, *args, can_create_list: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.can_create_list = can_create_list
        if not can_create_list:
            del self.fields["new_list_name"]

    def clean(self) -> dict:
        cleaned = super().clean()
        name = cleaned.get("new_list_name", "").strip()
        if bool(cleaned.get("target_list")) == bool(name):
            raise forms.ValidationError(_("Choose an existing target list or name a new one."))
        return cleaned

    def chosen_list(self) -> TargetList:
        """The chosen list, created first when the marketer named a new one."""
        existing = self.cleaned_data.get("target_list")
        return existing or TargetList.objects.create(name=self.cleaned_data["new_list_name"])


class AddToTargetListMixin:
    """Adds the "Add to target list" action, with its page asking which list, to a people admin."""

    def has_add_to_target_list_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("targetlists.add_targetlistentry")

    @admin.action(description=_("Add to target list"), permissions=["add_to_target_list"])
    def add_to_target_list(self, request: HttpRequest, queryset: QuerySet):
        can_create = request.user.has_perm("targetlists.add_targetlist")
        data = request.POST if "apply" in request.POST else None
        form = AddToTargetListForm(data, can_create_list=can_create)
        if form.is_bound and form.is_valid():
            with transaction.atomic():
                target_list = form.chosen_list()
                added = adding.add_to_target_list(target_list, queryset)
            message = ngettext(
                "%(count)d record added to target list “%(list)s”.",
                "%(count)d records added to target list “%(list)s”.",
                added,
            )
            self.message_user(
                request, message % {"count": added, "list": target_list}, messages.SUCCESS
            )
            return None
        return action_form_page(
            self,
            request,
            form,
            title=_("Add to target list"),
            action="add_to_target_list",
            template="admin/targetlists/add_to_target_list.html",
            count=queryset.count(),
        )


for _model in (Account, Contact, Lead, get_user_model()):
    add_admin_action(_model, AddToTargetListMixin, "add_to_target_list")
