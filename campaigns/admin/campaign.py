"""The campaign page: its lists, tracking URLs (with the code to paste), mass emails, statistics.

The campaign rules live in Campaign.clean() and TrackingUrl.clean(); the admin form shows their
messages. Tracking URLs can be added only while the type allows them, and mass emails are made
from the "Create mass email" button (the mass email admin copies the campaign's lists).
"""

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from campaigns.admin.mass_email_tools import started_display
from campaigns.admin.results import campaign_results
from campaigns.models import Campaign, MassEmail, TrackingUrl
from campaigns.models.campaign import TRACKING_URL_TYPES
from campaigns.results import figures as results
from campaigns.results.progress import progress


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = (
            "name",
            "status",
            "type",
            "start_date",
            "end_date",
            "budget",
            "description",
            "target_lists",
            "excluding_target_lists",
        )

    def clean(self) -> dict:
        cleaned = super().clean()
        new_type = cleaned.get("type")
        campaign = self.instance
        if (
            campaign.pk
            and new_type
            and new_type not in TRACKING_URL_TYPES
            and campaign.tracking_urls.exists()
        ):
            self.add_error(
                "type",
                _("Tracking URLs are only for Email and Newsletter campaigns: delete them first."),
            )
        return cleaned


class TrackingUrlInline(admin.TabularInline):
    model = TrackingUrl
    extra = 0
    fields = ("name", "url", "action", "message", "code")
    readonly_fields = ("code",)
    formfield_overrides = {
        models.URLField: {"assume_scheme": "https", "widget": forms.URLInput(attrs={"size": 28})},
        models.CharField: {"widget": forms.TextInput(attrs={"size": 16})},
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 1, "cols": 20})},
    }
    verbose_name_plural = _("tracking URLs (paste the code into a template)")

    @admin.display(description=_("code to paste"))
    def code(self, obj: TrackingUrl) -> str:
        if not obj.code:
            return _("shown once saved")
        return format_html(
            '<code>{}</code><button type="button" class="copy-code" data-code="{}" '
            'data-copied="{}">{}</button>',
            obj.code,
            obj.code,
            _("Copied"),
            _("Copy"),
        )


class MassEmailInline(admin.TabularInline):
    """The campaign's mass emails, read only here; each opens on its own page."""

    model = MassEmail
    extra = 0
    fields = ("name", "status", "starts", "email_template", "sending_progress")
    readonly_fields = fields
    show_change_link = True
    can_delete = False
    ordering = ("-created_at",)

    @admin.display(description=_("start at"))
    def starts(self, obj: MassEmail) -> str:
        return started_display(obj)

    @admin.display(description=_("progress"))
    def sending_progress(self, obj: MassEmail) -> str:
        done = progress(obj)
        if not done.total:
            return "–"
        return format_html(
            '<span class="mass-email-progress-cell"><progress max="{}" value="{}"></progress> '
            "{}</span>",
            done.total,
            done.sent,
            _("%(sent)s of %(total)s sent, %(failed)s failed")
            % {"sent": done.sent, "total": done.total, "failed": done.failed},
        )

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = (
        "name",
        "status",
        "type",
        "start_date",
        "end_date",
        "budget",
        "mass_email_count",
        "results_link",
    )
    list_filter = ("status", "type", "start_date", "target_lists")
    search_fields = ("name", "description")
    date_hierarchy = "created_at"
    filter_horizontal = ("target_lists", "excluding_target_lists")
    fieldsets = (
        (None, {"fields": ("name", ("status", "type"), ("start_date", "end_date"), "budget")}),
        (_("Recipients"), {"fields": ("target_lists", "excluding_target_lists")}),
        (_("Description"), {"fields": ("description",), "classes": ("collapse",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(mass_email_total=Count("mass_emails"))

    @admin.display(description=_("mass emails"), ordering="mass_email_total")
    def mass_email_count(self, obj: Campaign) -> int:
        return obj.mass_email_total

    @admin.display(description=_("results"))
    def results_link(self, obj: Campaign) -> str:
        url = reverse("admin:campaigns_campaign_results", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Results"))

    def get_inlines(self, request: HttpRequest, obj: Campaign | None) -> list:
        inlines = []
        if obj is not None and obj.allows_mass_email:
            inlines.append(MassEmailInline)
        if obj is not None and obj.allows_tracking_urls:
            inlines.append(TrackingUrlInline)
        return inlines

    def get_form(self, request: HttpRequest, obj: Campaign | None = None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None and obj.mass_emails.exists() and "type" in form.base_fields:
            form.base_fields["type"].help_text = _(
                "Locked: the campaign has a mass email, so its type cannot change."
            )
        return form

    def change_view(self, request: HttpRequest, object_id: str, form_url="", extra_context=None):
        campaign = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if campaign is not None:
            extra_context["statistics"] = results.summary(campaign)
            extra_context["allows_mass_email"] = campaign.allows_mass_email
            extra_context["can_add_mass_email"] = request.user.has_perm("campaigns.add_massemail")
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        view = self.admin_site.admin_view(self.results_view)
        own = [path("<int:pk>/results/", view, name="campaigns_campaign_results")]
        return own + super().get_urls()

    def results_view(self, request: HttpRequest, pk: int):
        return campaign_results(self, request, pk)
