"""API keys in the admin (administrators): make one (shown once), see its prefix and last use,
change its scopes and expiry, revoke it."""

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from api import keys, scopes
from api.models import ApiKey
from crm.admin.site import CheckedAutocompleteAdmin

DEFAULT_LIFETIME = timedelta(days=365)


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"),
        choices=scopes.CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "What the key may be used for. It can never do more than its user's groups allow."
        ),
    )

    class Meta:
        model = ApiKey
        fields = ("name", "user", "scopes", "expires_at", "rate_per_minute", "is_active")


@admin.register(ApiKey)
class ApiKeyAdmin(CheckedAutocompleteAdmin):
    form = ApiKeyForm
    list_display = (
        "name",
        "prefix_display",
        "user",
        "scope_list",
        "expires_at",
        "last_used_at",
        "is_active",
    )
    list_filter = ("is_active",)
    search_fields = ("name", "prefix", "user__username")
    autocomplete_fields = ("user",)
    readonly_fields = ("prefix_display", "created_at", "created_by", "last_used_at")

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None):
        fields = ["name", "user", "scopes", "expires_at", "rate_per_minute", "is_active"]
        if obj is not None:
            fields = ["prefix_display", *fields, "created_at", "created_by", "last_used_at"]
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None):
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "user"] if obj is not None else readonly

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {
            "user": request.user.pk,
            "expires_at": timezone.now() + DEFAULT_LIFETIME,
            **super().get_changeform_initial_data(request),
        }

    @admin.display(description=_("key"), ordering="prefix")
    def prefix_display(self, obj: ApiKey) -> str:
        return f"{keys.KEY_START}{obj.prefix}_…"

    @admin.display(description=_("scopes"))
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        made = keys.create_key(
            obj.name,
            obj.user,
            form.cleaned_data["scopes"],
            expires_at=obj.expires_at,
            created_by=request.user,
            rate_per_minute=obj.rate_per_minute,
        )
        if not obj.is_active:
            ApiKey.objects.filter(pk=made.api_key.pk).update(is_active=False)
        obj.pk = made.api_key.pk
        obj.prefix = made.api_key.prefix
        request._new_api_key = made.key

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "key": request._new_api_key,
            "title": _("Copy the API key now"),
        }
        response = TemplateResponse(request, "admin/api/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response
