"""The mass-email settings page (one row): limits, tracking switches and the site URL."""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.models import MassEmailSettings
from crm import site_url
from crm.admin.site import SingletonAdmin


@admin.register(MassEmailSettings)
class MassEmailSettingsAdmin(SingletonAdmin):
    change_form_template = "crm/admin/change_form_tools.html"
    fieldsets = (
        (
            gettext_lazy("Sending limits"),
            {"fields": ("max_per_hour", "max_per_batch", "max_attempts")},
        ),
        (
            gettext_lazy("Tracking and opt-out"),
            {"fields": ("open_tracking", "disable_opt_out_link", "site_url")},
        ),
        (gettext_lazy("Bounces"), {"fields": ("verp", "verp_domain", "soft_bounce_limit")}),
        (gettext_lazy("Email service provider"), {"fields": ("esp",)}),
    )

    def get_urls(self):
        view = self.admin_site.admin_view(self.check_site_url_view)
        name = "campaigns_massemailsettings_check_site_url"
        return [path("<path:object_id>/check-site-url/", view, name=name), *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id: str, form_url="", extra_context=None):
        row = self.get_object(request, object_id)
        if request.method == "GET" and row is not None:
            for problem in site_url.problems(row.base_url, production=not settings.DEBUG):
                messages.warning(request, problem)
        check_url = reverse("admin:campaigns_massemailsettings_check_site_url", args=[object_id])
        extra_context = {
            **(extra_context or {}),
            "object_tools": [(check_url, _("Check the site URL"))],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def check_site_url_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        row = self.get_object(request, object_id)
        if row is None or not self.has_view_or_change_permission(request, row):
            raise PermissionDenied
        problem = site_url.check_reachable(row.base_url)
        if problem:
            messages.error(request, problem)
        else:
            message = _("The site URL %(url)s leads to this installation.")
            messages.success(request, message % {"url": row.base_url})
        change_url = reverse("admin:campaigns_massemailsettings_change", args=[row.pk])
        return HttpResponseRedirect(change_url)
