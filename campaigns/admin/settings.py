"""The mass-email settings page (one row): limits, tracking switches and the site URL."""

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from campaigns.models import MassEmailSettings
from crm import site_url
from crm.admin.site import SingletonAdmin


@admin.register(MassEmailSettings)
class MassEmailSettingsAdmin(SingletonAdmin):
    fieldsets = (
        (_("Sending limits"), {"fields": ("max_per_hour", "max_per_batch", "max_attempts")}),
        (
            _("Tracking and opt-out"),
            {"fields": ("open_tracking", "disable_opt_out_link", "site_url")},
        ),
        (_("Bounces"), {"fields": ("verp", "verp_domain", "soft_bounce_limit")}),
    )

    def change_view(self, request: HttpRequest, object_id: str, form_url="", extra_context=None):
        if request.method == "GET":
            row = self.get_object(request, object_id)
            if row is not None:
                for problem in site_url.problems(row.base_url, production=not settings.DEBUG):
                    messages.warning(request, problem)
        return super().change_view(request, object_id, form_url, extra_context)
