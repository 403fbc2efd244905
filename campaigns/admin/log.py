"""The campaign log in the admin: read-only, filterable, and the source of new target lists."""

import copy

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, CampaignLogRecord, MassEmail
from campaigns.results.log_lists import create_target_list_from_log
from crm.admin.site import ReadOnlyAdmin

Action = CampaignLogRecord.Action


def admin_link(obj, text: str | None = None) -> str:
    """An escaped link to `obj`'s admin page, or its escaped name when it has none."""
    label = text if text is not None else str(obj)
    try:
        url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return label
    return format_html('<a href="{}">{}</a>', url, label)


class ReasonFilter(admin.SimpleListFilter):
    """Records of recipients whose last error, or bounces whose server's words, start with the
    words of a results page reason."""

    title = _("bounce or failure reason")
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(
            Q(queue_item__last_error__startswith=value) | Q(bounce_detail__startswith=value)
        )


class MassEmailFilter(admin.SimpleListFilter):
    """The records of one mass email of the campaign (through their queue items)."""

    title = _("mass email")
    parameter_name = "mass_email"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[int, str]]:
        emails = MassEmail.objects.order_by("-created_at")
        campaign = request.GET.get("campaign__id__exact", "")
        if campaign.isdigit():
            emails = emails.filter(campaign_id=campaign)
        return [(email.pk, email.name) for email in emails[:50]]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(queue_item__mass_email_id=value) if value else queryset


@admin.register(CampaignLogRecord)
class CampaignLogRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "action_date",
        "action_label",
        "judged",
        "campaign",
        "email",
        "person",
        "is_test",
    ]
    list_filter = [
        "action",
        "bounce_type",
        "exit_reason",
        "is_test",
        "campaign",
        MassEmailFilter,
        ReasonFilter,
    ]
    search_fields = ["email"]
    date_hierarchy = "action_date"
    list_select_related = ["campaign", "tracking_url", "account", "contact", "lead", "user"]
    list_per_page = 100
    show_full_result_count = False  # no COUNT(*) of the whole log on every page
    readonly_fields = [
        "campaign",
        "action",
        "action_date",
        "person",
        "email",
        "email_address",
        "queue_item",
        "tracking_url",
        "bounce_type",
        "exit_reason",
        "is_test",
    ]
    fields = readonly_fields

    @admin.display(description=_("action"), ordering="action")
    def action_label(self, record: CampaignLogRecord) -> str:
        label = record.get_action_display()
        if record.exit_reason:
            return f"{label}: {record.get_exit_reason_display()}"
        if record.bounce_type:
            label = f"{label} ({record.get_bounce_type_display()})"
        if record.tracking_url_id:
            return format_html("{}: {}", label, record.tracking_url)
        return label

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        hits = apps.get_model("tracking", "TrackingHit").objects.filter(
            queue_item_id=OuterRef("queue_item_id"), is_test=OuterRef("is_test")
        )
        clicks = hits.filter(kind="click", tracking_url_id=OuterRef("tracking_url_id"))
        opens = hits.filter(kind__in=("open", "click"))
        # Evaluated for the page's rows only (a subquery of the SELECT list).
        return (
            super()
            .get_queryset(request)
            .annotate(
                human_open=Exists(opens.filter(is_machine=False)),
                human_click=Exists(clicks.filter(is_machine=False)),
                any_hit=Exists(hits.filter(kind__in=("open", "click"))),
            )
        )

    @admin.display(description=_("judged"))
    def judged(self, record: CampaignLogRecord) -> str:
        """For an open or a click: whether a person's hit backs it, or only machines' hits."""
        if record.action == Action.OPENED:
            human = getattr(record, "human_open", False)
        elif record.action == Action.CLICKED:
            human = getattr(record, "human_click", False)
        else:
            return ""
        if human:
            return _("person")
        return _("machine") if getattr(record, "any_hit", False) else _("no hit recorded")

    @admin.display(description=_("person"))
    def person(self, record: CampaignLogRecord) -> str:
        target = record.target
        return admin_link(target) if target is not None else ""

    def get_urls(self):
        view = self.admin_site.admin_view(self.create_target_list_view)
        name = "campaigns_campaignlogrecord_create_target_list"
        return [path("create-target-list/", view, name=name), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # The new list keeps the filters the marketer applied here.
        url = reverse("admin:campaigns_campaignlogrecord_create_target_list")
        query = request.GET.copy()
        query["campaign"] = request.GET.get("campaign__id__exact", "")
        extra_context = {**(extra_context or {}), "create_list_url": f"{url}?{query.urlencode()}"}
        return super().changelist_view(request, extra_context)

    def filtered_records(self, request: HttpRequest, filters: str) -> QuerySet:
        """The log records the changelist shows with `filters` (its query string)."""
        listing = copy.copy(request)
        listing.GET = QueryDict(filters)
        listing.method = "GET"
        changelist = self.get_changelist_instance(listing)
        return changelist.get_queryset(listing)

    def create_target_list_view(self, request: HttpRequest) -> HttpResponse:
        may_add_list = request.user.has_perm("targetlists.add_targetlist")
        if not (self.has_view_permission(request) and may_add_list):
            raise PermissionDenied
        form = CreateTargetListForm(request.POST or None, initial=self._initial(request))
        if request.method == "POST" and form.is_valid():
            try:
                within = self.filtered_records(request, form.cleaned_data["filters"])
            except IncorrectLookupParameters:
                form.add_error(None, _("The log filters of this page are not valid any more."))
            else:
                return self._create_target_list(request, form.cleaned_data, within)
        adminform = helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Create a target list from the campaign log"),
            "form": form,
            "adminform": adminform,
            "filters": self._filters_shown(form),
        }
        template = "admin/campaigns/campaignlogrecord/create_target_list.html"
        return TemplateResponse(request, template, context)

    def _initial(self, request: HttpRequest) -> dict:
        query = request.GET.copy()
        campaign = query.pop("campaign", [""])[-1]
        initial = {"campaign": campaign} if campaign.isdigit() else {}
        if query.get("action__exact") in Action.values:
            initial["include_actions"] = [query["action__exact"]]
        query.pop("campaign__id__exact", None)  # the form's campaign stands for it
        if query:
            initial["filters"] = query.urlencode()
        return initial

    def _filters_shown(self, form) -> list[tuple[str, str]]:
        """The kept filters, as (name, value) for the page to list."""
        filters = form["filters"].value() or ""
        return [(name, value) for name, value in QueryDict(filters).items() if value]

    def _create_target_list(self, request: HttpRequest, data: dict, within) -> HttpResponse:
        target_list = create_target_list_from_log(
            data["campaign"],
            data["name"],
            data["include_actions"],
            data["exclude_actions"],
            within=within,
            humans_only=data["leave_out_machines"],
        )
        count = target_list.entries.count()
        message = _("The target list “%(name)s” was created with %(count)d people.")
        self.message_user(request, message % {"name": target_list.name, "count": count})
        try:
            return redirect("admin:targetlists_targetlist_change", target_list.pk)
        except NoReverseMatch:
            return redirect("admin:campaigns_campaignlogrecord_changelist")


class CreateTargetListForm(forms.Form):
    campaign = forms.ModelChoiceField(Campaign.objects.all(), label=_("Campaign"))
    name = forms.CharField(label=_("Name of the new target list"), max_length=255)
    include_actions = forms.MultipleChoiceField(
        label=_("Include people who"),
        choices=Action.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("People with at least one of these actions in the campaign join the list."),
    )
    exclude_actions = forms.MultipleChoiceField(
        label=_("Leave out people who"),
        choices=Action.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("People with any of these actions are left out. Test emails never count."),
    )
    leave_out_machines = forms.BooleanField(
        label=_("Leave out machine hits"),
        required=False,
        initial=True,
        help_text=_(
            "Opens and clicks made only by privacy proxies and link scanners do not count."
        ),
    )
    filters = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict:
        data = super().clean()
        both = set(data.get("include_actions", ())) & set(data.get("exclude_actions", ()))
        if both:
            raise forms.ValidationError(_("An action cannot be both included and excluded."))
        return data
