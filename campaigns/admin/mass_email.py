"""Mass emails in the admin: edit while Draft or Pending, watch progress, pause, send tests.

The queue is shown read-only (EmailQueueItem), with each item's last error and, when the mass
email stores sent emails, the copy that went out.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from campaigns.admin.ab_test import (
    AB_DESCRIPTION,
    AB_FIELDS,
    VariantInline,
    ab_context,
    can_follow_up,
    choose_winner_view,
    follow_up_view,
)
from campaigns.admin.mass_email_tools import (
    duplicate_view,
    send_now_view,
    sending_context,
    started_display,
    started_fieldsets,
)
from campaigns.admin.results import mass_email_results
from campaigns.authoring.trial_send import TestSendError, send_test
from campaigns.models import Campaign, EmailQueueItem, MassEmail
from campaigns.models.campaign import MASS_EMAIL_TYPES
from campaigns.sending import job as sending
from crm.address_fields import validate_stored_address
from crm.admin.site import (
    CheckedAutocompleteSelectMultiple,
    CheckedModelMultipleChoiceField,
    ReadOnlyAdmin,
)
from crm.models import Account, Contact, Lead

AB_SETTINGS = (
    "test_share",
    "test_wait_hours",
    "test_metric",
    "test_confidence",
    "test_min_sample",
    "test_fallback",
)
EDITABLE_CHOICES = [(s.value, s.label) for s in MassEmail.EDITABLE_STATUSES]
CONTROLS = {"pause": sending.pause, "resume": sending.resume, "cancel": sending.cancel}
AUTOMATED = _(
    "An automation step's email is paused and restarted with its automation: use Pause and "
    "Activate on the automation (if it failed, its page says why)."
)


class MassEmailForm(forms.ModelForm):
    class Meta:
        model = MassEmail
        fields = (
            "campaign",
            "name",
            "status",
            "start_at",
            "email_template",
            "from_address",
            "from_name",
            "reply_to_address",
            "reply_to_name",
            "target_lists",
            "excluding_target_lists",
            "smtp_account",
            "store_sent_emails",
            "opt_out_entirely",
            "track_all_links",
            "utm_tags",
            "utm_source",
            "utm_campaign",
            "web_view_link",
            "subject",
            "test_share",
            "test_wait_hours",
            "test_metric",
            "test_confidence",
            "test_min_sample",
            "test_fallback",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "status" in self.fields:
            # The other statuses are set by the sending job and by Pause, Resume and Cancel.
            self.fields["status"].choices = EDITABLE_CHOICES
            self.fields["status"].help_text = _("Pending: sent from the start time on.")
        for name in AB_SETTINGS:
            if name in self.fields:  # left out of a post: kept as they are
                self.fields[name].required = False

    def clean(self) -> dict:
        cleaned = super().clean()
        for name in AB_SETTINGS:
            if name in self.fields and cleaned.get(name) in (None, ""):
                cleaned[name] = getattr(self.instance, name)
        return cleaned


@admin.register(MassEmail)
class MassEmailAdmin(admin.ModelAdmin):
    form = MassEmailForm
    change_form_template = "admin/campaigns/massemail/change_form.html"
    list_display = ("name", "campaign", "status", "start_at", "sent_of_total", "created_at")
    list_filter = ("status", "campaign")
    search_fields = ("name", "campaign__name")
    date_hierarchy = "created_at"
    list_select_related = ("campaign",)
    filter_horizontal = ("target_lists", "excluding_target_lists")
    readonly_fields = ("failure_reason", "started")
    inlines = (VariantInline,)
    actions = ("pause_selected", "resume_selected", "cancel_selected")
    fieldsets = (
        (
            None,
            {"fields": ("campaign", "name", ("status", "start_at"), "email_template", "subject")},
        ),
        (
            _("Sender"),
            {"fields": (("from_address", "from_name"), ("reply_to_address", "reply_to_name"))},
        ),
        (_("Recipients"), {"fields": ("target_lists", "excluding_target_lists")}),
        (_("Sending"), {"fields": ("smtp_account", "store_sent_emails", "opt_out_entirely")}),
        (
            _("Links"),
            {
                "fields": (
                    "track_all_links",
                    ("utm_tags", "utm_source", "utm_campaign"),
                    "web_view_link",
                )
            },
        ),
        (
            _("A/B test"),
            {
                "fields": AB_FIELDS,
                "classes": ("collapse",),
                "description": AB_DESCRIPTION,
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        real = Q(queue_items__is_test=False)
        return (
            super()
            .get_queryset(request)
            .annotate(
                item_total=Count("queue_items", filter=real),
                item_sent=Count("queue_items", filter=real & Q(queue_items__status="sent")),
            )
        )

    @admin.display(description=_("sent"))
    def sent_of_total(self, obj: MassEmail) -> str:
        return f"{obj.item_sent} / {obj.item_total}"

    def get_fieldsets(self, request: HttpRequest, obj: MassEmail | None = None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not obj.is_editable:
            fieldsets = started_fieldsets(fieldsets)
        if obj is not None and obj.failure_reason:
            fieldsets = ((_("Failure"), {"fields": ("failure_reason",)}), *fieldsets)
        return fieldsets

    @admin.display(description=_("start at"))
    def started(self, obj: MassEmail) -> str:
        return started_display(obj)

    def has_change_permission(self, request: HttpRequest, obj: MassEmail | None = None) -> bool:
        # Only Draft and Pending are editable; the others open read-only.
        editable = obj is None or obj.is_editable
        return editable and super().has_change_permission(request, obj)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        campaign = self._campaign_from_query(request)
        if campaign is None:
            return super().get_changeform_initial_data(request)
        return {
            "campaign": campaign.pk,
            "name": f"{campaign.name} {timezone.localdate():%Y-%m-%d}",
            "track_all_links": not campaign.is_informational,
            "target_lists": list(campaign.target_lists.values_list("pk", flat=True)),
            "excluding_target_lists": list(
                campaign.excluding_target_lists.values_list("pk", flat=True)
            ),
        }

    def get_form(self, request: HttpRequest, obj: MassEmail | None = None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None and "campaign" in form.base_fields:
            campaign_field = form.base_fields["campaign"]
            campaign_field.queryset = Campaign.objects.filter(type__in=MASS_EMAIL_TYPES)
            campaign = self._campaign_from_query(request)
            if campaign is not None:
                # Created from a campaign: it stays that one, whatever the POST says.
                campaign_field.disabled, campaign_field.initial = True, campaign.pk
        return form

    @staticmethod
    def _campaign_from_query(request: HttpRequest) -> Campaign | None:
        campaign_id = request.GET.get("campaign", "")
        if not campaign_id.isdigit():
            return None
        return Campaign.objects.filter(pk=campaign_id).first()

    def save_model(self, request: HttpRequest, obj: MassEmail, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def change_view(self, request: HttpRequest, object_id: str, form_url="", extra_context=None):
        mass_email = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if mass_email is not None:
            extra_context.update(sending_context(request, mass_email))
            may_change = request.user.has_perm("campaigns.change_massemail")
            extra_context["can_control"] = may_change and not mass_email.automated
            extra_context["can_send_test"] = may_change and mass_email.is_editable
            if mass_email.automated and request.method == "GET":
                self.message_user(request, AUTOMATED, messages.INFO)
            extra_context["can_follow_up"] = can_follow_up(request, mass_email)
            extra_context.update(ab_context(request, mass_email))
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        own = [
            path(
                "<int:pk>/send-test/",
                self.admin_site.admin_view(self.send_test_view),
                name="campaigns_massemail_send_test",
            ),
            path(
                "<int:pk>/control/<str:control>/",
                self.admin_site.admin_view(require_POST(self.control_view)),
                name="campaigns_massemail_control",
            ),
            path(
                "<int:pk>/send-now/",
                self.admin_site.admin_view(require_POST(self.send_now_view)),
                name="campaigns_massemail_send_now",
            ),
            path(
                "<int:pk>/duplicate/",
                self.admin_site.admin_view(require_POST(self.duplicate_view)),
                name="campaigns_massemail_duplicate",
            ),
            path(
                "<int:pk>/choose-winner/",
                self.admin_site.admin_view(require_POST(self.choose_winner_view)),
                name="campaigns_massemail_choose_winner",
            ),
            path(
                "<int:pk>/follow-up/",
                self.admin_site.admin_view(self.follow_up_view),
                name="campaigns_massemail_follow_up",
            ),
            path(
                "<int:pk>/results/",
                self.admin_site.admin_view(self.results_view),
                name="campaigns_massemail_results",
            ),
        ]
        return own + super().get_urls()

    def send_now_view(self, request: HttpRequest, pk: int):
        return send_now_view(self, request, pk)

    def duplicate_view(self, request: HttpRequest, pk: int):
        return duplicate_view(self, request, pk)

    def choose_winner_view(self, request: HttpRequest, pk: int):
        return choose_winner_view(self, request, pk)

    def follow_up_view(self, request: HttpRequest, pk: int):
        return follow_up_view(self, request, pk)

    def results_view(self, request: HttpRequest, pk: int):
        return mass_email_results(self, request, pk)

    def control_view(self, request: HttpRequest, pk: int, control: str):
        if control not in CONTROLS or not request.user.has_perm("campaigns.change_massemail"):
            raise PermissionDenied
        mass_email = get_object_or_404(MassEmail, pk=pk)
        if mass_email.automated:
            self.message_user(request, AUTOMATED, messages.ERROR)
        elif CONTROLS[control](MassEmail.objects.filter(pk=pk)):
            mass_email.refresh_from_db()
            self.message_user(
                request,
                _("The mass email is now %(status)s.")
                % {"status": mass_email.get_status_display()},
            )
        else:
            self.message_user(
                request,
                _("Nothing changed: a %(status)s mass email cannot do that.")
                % {"status": mass_email.get_status_display()},
                messages.WARNING,
            )
        return HttpResponseRedirect(reverse("admin:campaigns_massemail_change", args=[pk]))

    def send_test_view(self, request: HttpRequest, pk: int):
        if not request.user.has_perm("campaigns.change_massemail"):
            raise PermissionDenied
        mass_email = get_object_or_404(MassEmail, pk=pk)
        form = TestSendForm(request.POST or None, initial={"users": [request.user.pk]})
        results = None
        if request.method == "POST" and form.is_valid():
            results = self._send_test(request, mass_email, form)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": mass_email,
            "form": form,
            "media": self.media + form.media,
            "results": results,
            "title": _("Send a test of %(name)s") % {"name": mass_email.name},
        }
        return TemplateResponse(request, "admin/campaigns/massemail/send_test.html", context)

    def _send_test(self, request: HttpRequest, mass_email: MassEmail, form) -> list | None:
        try:
            results = send_test(
                mass_email, people=form.people(), addresses=form.cleaned_data["addresses"]
            )
        except TestSendError as exc:
            self.message_user(
                request, _("No test was sent: %(error)s") % {"error": exc}, messages.ERROR
            )
            return None
        sent = [result.recipient for result in results if result.sent]
        if sent:
            self.message_user(request, _("Test sent to %(list)s.") % {"list": ", ".join(sent)})
        for result in results:
            if not result.sent:
                self.message_user(
                    request,
                    _("Not sent to %(recipient)s: %(error)s")
                    % {"recipient": result.recipient, "error": result.error},
                    messages.ERROR,
                )
        return results

    @admin.action(description=_("Pause selected mass emails"), permissions=["change"])
    def pause_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._report(request, queryset, sending.pause(queryset), _("paused"))

    @admin.action(description=_("Resume selected mass emails"), permissions=["change"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._report(request, queryset, sending.resume(queryset), _("resumed"))

    @admin.action(description=_("Cancel selected mass emails"), permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._report(request, queryset, sending.cancel(queryset), _("canceled"))

    def _report(self, request: HttpRequest, queryset: QuerySet, count: int, done: str) -> None:
        message = ngettext(
            "%(count)d mass email %(done)s.", "%(count)d mass emails %(done)s.", count
        ) % {"count": count, "done": done}
        self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)
        automated = queryset.filter(automated=True).count()
        if automated:
            left = ngettext(
                "%(count)d is the email of an automation step, left as it is.",
                "%(count)d are emails of automation steps, left as they are.",
                automated,
            ) % {"count": automated}
            self.message_user(request, f"{left} {AUTOMATED}", messages.WARNING)


def _people_field(model, source: str) -> forms.ModelMultipleChoiceField:
    """A multiple choice of `model`; with the admin's search widget when that model has one."""
    model_admin = admin.site._registry.get(model)
    widget = forms.SelectMultiple
    if model_admin is not None and model_admin.search_fields:
        widget = CheckedAutocompleteSelectMultiple(
            EmailQueueItem._meta.get_field(source), admin.site
        )
    return CheckedModelMultipleChoiceField(
        model.objects.all(), required=False, widget=widget, label=model._meta.verbose_name_plural
    )


class TestSendForm(forms.Form):
    addresses = forms.CharField(
        label=_("addresses"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Type addresses, separated by commas or new lines."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["users"] = _people_field(get_user_model(), "user")
        self.fields["contacts"] = _people_field(Contact, "contact")
        self.fields["leads"] = _people_field(Lead, "lead")
        self.fields["accounts"] = _people_field(Account, "account")
        self.order_fields(["users", "contacts", "leads", "accounts", "addresses"])

    def clean_addresses(self) -> list[str]:
        raw = self.cleaned_data["addresses"].replace(",", "\n").replace(";", "\n")
        addresses = [line.strip() for line in raw.splitlines() if line.strip()]
        problems = []
        for address in addresses:
            try:
                validate_stored_address(address)
            except forms.ValidationError as exc:
                problems.extend(exc.messages)
        if problems:
            raise forms.ValidationError(problems)
        return addresses

    def clean(self) -> dict:
        cleaned = super().clean()
        if not self.errors and not self.people() and not cleaned.get("addresses"):
            raise forms.ValidationError(_("Choose at least one recipient or type an address."))
        return cleaned

    def people(self) -> list:
        return [
            person
            for name in ("users", "contacts", "leads", "accounts")
            for person in self.cleaned_data.get(name) or ()
        ]


@admin.register(EmailQueueItem)
class EmailQueueItemAdmin(ReadOnlyAdmin):
    """The queue, read-only: what was sent to whom, what failed and why."""

    list_display = (
        "id",
        "mass_email",
        "email",
        "status",
        "variant",
        "attempts",
        "sent_at",
        "is_test",
        "last_error",
    )
    list_filter = ("status", "is_test", "in_test", "mass_email")
    # An ESP's message id (from its dashboard or a webhook) finds the item it was sent for.
    search_fields = ("email", "email_address__address", "=esp_message_id")
    list_select_related = ("mass_email", "variant")
    fields = (
        "mass_email",
        "target_display",
        "email",
        "status",
        "variant",
        "in_test",
        "attempts",
        "sent_at",
        "is_test",
        "last_error",
        "esp_message_id",
        "stored_copy",
    )
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # deleting the mass email deletes its queue

    @admin.display(description=_("recipient"))
    def target_display(self, item: EmailQueueItem) -> str:
        return str(item.target or "")

    @admin.display(description=_("stored copy"))
    def stored_copy(self, item: EmailQueueItem) -> str:
        stored = getattr(item, "sent_email", None)
        if stored is None:
            return _("Not stored (turn on “store sent emails” on the mass email).")
        return format_html('<pre class="stored-email">{}</pre>', stored.data)
