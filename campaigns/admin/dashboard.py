"""The admin's first page (/admin/): the marketers' dashboard (campaigns.dashboard). Django's
list of models moves to /admin/models/, linked from the dashboard and the header."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from campaigns import dashboard as board
from campaigns.admin.results import log_url
from campaigns.results import chart


def _can(request: HttpRequest, codename: str) -> bool:
    return request.user.has_perm(codename)


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """The dashboard; who may not look at mass emails sees the way to the models only."""
    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard"),
        "models_url": reverse("admin_models"),
        "found": None,
    }
    if _can(request, "campaigns.view_massemail"):
        found = board.dashboard()
        labels = (_("People in"), _("People out"))
        title = _("People added to lists and opted out, per week")
        context |= {
            "found": found,
            "growth_chart": mark_safe(chart.weekly_bars(found.growth, title, labels)),  # noqa: S308
            "growth_legend": mark_safe(chart.weekly_legend(labels)),  # noqa: S308
            "complaint_limit": board.COMPLAINT_LIMIT,
            "bounce_limit": board.BOUNCE_LIMIT,
            "window_days": board.WINDOW_DAYS,
            "weeks": board.WEEKS,
            "can_see_log": _can(request, "campaigns.view_campaignlogrecord"),
            "can_see_entries": _can(request, "targetlists.view_targetlist"),
            "can_see_consent": _can(request, "crm.view_consentrecord"),
            "bounce_log_url": f"{reverse('admin:campaigns_campaignlogrecord_changelist')}"
            "?action__exact=bounced",
            "log_urls": {
                row.mass_email.pk: log_url(row.mass_email.campaign, row.mass_email)
                for row in found.last
            },
        }
    return TemplateResponse(request, "admin/dashboard.html", context)


def models_view(request: HttpRequest) -> HttpResponse:
    """Django's admin index: every model the user may see, by app."""
    return admin.site.index(request, extra_context={"dashboard_url": reverse("admin:index")})


dashboard = admin.site.admin_view(dashboard_view)
models = admin.site.admin_view(models_view)
