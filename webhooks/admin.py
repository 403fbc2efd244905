"""Webhook endpoints in the admin: make one (its secret shown once), rotate the secret, send a
test event, redeliver what failed since a time; the attempts of the last 30 days. An owner
whose endpoint was disabled sees why on the admin's pages (webhooks.templatetags)."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm.admin.site import CheckedAutocompleteAdmin, action_form_page
from webhooks import endpoints
from webhooks.models import Attempt, Delivery, Endpoint


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"),
        choices=[(t, t) for t in endpoints.SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("None chosen: every event."),
    )

    class Meta:
        model = Endpoint
        fields = (
            "url",
            "description",
            "events",
            "target_lists",
            "campaigns",
            "batch_size",
            "enabled",
            "owner",
        )

    def clean(self) -> dict:
        cleaned = super().clean()
        try:
            url, types = cleaned.get("url") or "", cleaned.get("events") or []
            endpoints.check(url, types, cleaned.get("batch_size") or 1)
        except endpoints.EndpointInvalid as exc:
            self.add_error(exc.field if exc.field in self.fields else None, str(exc))
        return cleaned


class RedeliverForm(forms.Form):
    since = forms.SplitDateTimeField(
        label=_("failed deliveries created since"), widget=admin.widgets.AdminSplitDateTime
    )


@admin.register(Endpoint)
class EndpointAdmin(CheckedAutocompleteAdmin):
    form = EndpointForm
    list_display = ("url", "description", "event_list", "enabled", "disabled_reason", "owner")
    list_filter = ("enabled",)
    search_fields = ("url", "description")
    autocomplete_fields = ("owner",)
    filter_horizontal = ("target_lists", "campaigns")
    readonly_fields = ("disabled_reason", "disabled_at", "failing_since", "created_at")
    actions = ("send_test_event", "rotate_secret", "redeliver_failed")

    def get_fields(self, request: HttpRequest, obj: Endpoint | None = None):
        fields = list(EndpointForm.Meta.fields)
        return fields + list(self.readonly_fields) if obj is not None else fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    @admin.display(description=_("events"))
    def event_list(self, obj: Endpoint) -> str:
        return ", ".join(obj.events) or _("every event")

    def save_model(self, request: HttpRequest, obj: Endpoint, form, change: bool) -> None:
        if change:
            was_enabled = Endpoint.objects.filter(pk=obj.pk, enabled=True).exists()
            super().save_model(request, obj, form, change)
            if obj.enabled and not was_enabled:
                endpoints.enable(obj)
            return
        data = form.cleaned_data
        made, secret = endpoints.create(
            obj.url,
            data.get("events") or [],
            owner=obj.owner,
            description=obj.description,
            batch_size=obj.batch_size,
            enabled=obj.enabled,
        )
        obj.pk = made.pk
        request._new_webhook_secret = secret

    def response_add(self, request: HttpRequest, obj: Endpoint, post_url_continue=None):
        return self._secret_page(request, obj, request._new_webhook_secret)

    def _secret_page(self, request: HttpRequest, obj: Endpoint, secret: str):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "secret": secret,
            "title": _("Copy the signing secret now"),
        }
        response = TemplateResponse(request, "admin/webhooks/endpoint/secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def changelist_view(self, request: HttpRequest, extra_context=None):
        for endpoint in disabled_for(request.user):
            self.message_user(request, notice(endpoint), messages.WARNING)
        return super().changelist_view(request, extra_context)

    @admin.action(description=_("Send a test event"))
    def send_test_event(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            result = endpoints.send_test(endpoint)
            if result.succeeded:
                text = _("%(endpoint)s answered %(status)s to the test event.")
                level = messages.SUCCESS
            else:
                text = _("%(endpoint)s did not take the test event: %(error)s (retried later).")
                level = messages.ERROR
            status = result.answer.status if result.answer else ""
            error = result.error or f"HTTP {status}"
            values = {"endpoint": endpoint, "status": status, "error": error}
            self.message_user(request, text % values, level)

    @admin.action(description=_("Rotate the signing secret"))
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet):
        if queryset.count() != 1:
            self.message_user(request, _("Rotate one endpoint's secret at a time."), messages.ERROR)
            return None
        endpoint = queryset.get()
        return self._secret_page(request, endpoint, endpoints.rotate_secret(endpoint))

    @admin.action(description=_("Redeliver failed deliveries since…"))
    def redeliver_failed(self, request: HttpRequest, queryset: QuerySet):
        data = request.POST if "apply" in request.POST else None
        form = RedeliverForm(data, initial={"since": timezone.now() - timedelta(days=1)})
        if form.is_bound and form.is_valid():
            since = form.cleaned_data["since"]
            count = sum(endpoints.redeliver_failed(e, since) for e in queryset)
            message = ngettext(
                "%(count)d failed delivery will be sent again.",
                "%(count)d failed deliveries will be sent again.",
                count,
            )
            self.message_user(request, message % {"count": count}, messages.SUCCESS)
            return None
        return action_form_page(
            self,
            request,
            form,
            title=_("Redeliver failed deliveries"),
            action="redeliver_failed",
            template="admin/webhooks/endpoint/redeliver.html",
        )


def disabled_for(user) -> QuerySet:
    """The disabled endpoints `user` owns (the notice they see)."""
    if not getattr(user, "is_authenticated", False):
        return Endpoint.objects.none()
    return Endpoint.objects.filter(owner=user, enabled=False).exclude(disabled_reason="")


def notice(endpoint: Endpoint) -> str:
    return _("The webhook endpoint %(url)s was disabled: %(reason)s") % {
        "url": endpoint.url,
        "reason": endpoint.disabled_reason,
    }


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = (
        "at",
        "endpoint",
        "delivery",
        "status_code",
        "duration_ms",
        "succeeded",
        "error",
    )
    list_filter = ("succeeded", "endpoint")
    date_hierarchy = "at"
    list_select_related = ("endpoint", "delivery")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "message_id",
        "endpoint",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
    )
    list_filter = ("status", "event_type", "endpoint")
    search_fields = ("message_id",)
    list_select_related = ("endpoint",)
