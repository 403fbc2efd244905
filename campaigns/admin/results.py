"""The results pages of a campaign and of a mass email, with CSV exports of their tables."""

import csv
from urllib.parse import urlencode

from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from campaigns.admin.ab_test import ab_context
from campaigns.models import Campaign, CampaignLogRecord, MassEmail
from campaigns.results import chart as results_chart
from campaigns.results.figures import Results, results

Bounce = CampaignLogRecord.BounceType
Action = CampaignLogRecord.Action


def log_url(campaign: Campaign, mass_email: MassEmail | None = None, **filters) -> str:
    """The campaign log filtered to the campaign (or mass email) and `filters`."""
    query = {"campaign__id__exact": campaign.pk, **filters}
    if mass_email is not None:
        query["mass_email"] = mass_email.pk
    return f"{reverse('admin:campaigns_campaignlogrecord_changelist')}?{urlencode(query)}"


def bounce_kinds(found: Results) -> list[tuple[str, str, int]]:
    """(value, label, recipients) of every bounce kind the log knows, then any unknown one."""
    counts = dict(found.figures.bounces_by_kind)
    kinds = [(value, label, counts.pop(value, 0)) for value, label in Bounce.choices]
    return kinds + [(value, value, n) for value, n in sorted(counts.items())]


def other_actions(found: Results) -> list[tuple[str, str, int]]:
    """Actions beyond sent, opened, clicked, opted out and bounced (leads created, opted in…)."""
    shown = {Action.SENT, Action.OPENED, Action.CLICKED, Action.OPTED_OUT, Action.BOUNCED}
    counts = found.figures.other_actions
    return [(v, label, counts.get(v, 0)) for v, label in Action.choices if v not in shown]


def reason_filter(words: str) -> str:
    """The start of a reason's words before the first part that varies, for the log filter."""
    return words.split("…", 1)[0].strip() or words


def _csv(found: Results, table: str, name: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{table}.csv"'
    writer = csv.writer(response)
    if table == "links":
        writer.writerow([_("Link"), _("URL"), _("Clicks"), _("Human clicks"), _("Clickers"), "%"])
        for row in found.links:
            link = row.link
            writer.writerow(
                [str(link or row.link_id), link.url if link else "", row.clicks, row.human_clicks]
                + [row.clickers, row.share if row.share is not None else ""]
            )
    elif table == "domains":
        writer.writerow([_("Domain"), _("Sent"), _("Opened"), _("Clicked"), _("Bounced")])
        for domain, f in found.domains:
            writer.writerow([domain, f.sent, f.opened, f.clicked, f.bounced])
    else:
        writer.writerow(
            [_("Start"), _("Opens"), _("Clicks"), _("Machine opens"), _("Machine clicks")]
        )
        for p in found.chart:
            start = timezone.localtime(p.start).isoformat()
            writer.writerow([start, p.opens, p.clicks, p.machine_opens, p.machine_clicks])
    return response


def results_view(
    model_admin: ModelAdmin, request: HttpRequest, campaign: Campaign, mass_email=None
) -> HttpResponse:
    """The results page (or, with ?export=chart|links|domains, a CSV of that table)."""
    if not model_admin.has_view_permission(request, mass_email or campaign):
        raise PermissionDenied
    found = results(campaign, mass_email)
    subject = mass_email or campaign
    export = request.GET.get("export")
    if export in ("chart", "links", "domains"):
        return _csv(found, export, f"results-{subject._meta.model_name}-{subject.pk}")
    reasons = [
        (words, n, log_url(campaign, mass_email, **{"reason": reason_filter(words)}))
        for words, n in found.reasons
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "original": subject,
        "campaign": campaign,
        "mass_email": mass_email,
        "title": _("Results of %(name)s") % {"name": subject},
        "found": found,
        "bounce_kinds": bounce_kinds(found),
        "other_actions": other_actions(found),
        "reasons": reasons,
        "chart": mark_safe(results_chart.svg(found.chart, found.chart_unit)),  # noqa: S308
        "cumulative_chart": mark_safe(  # noqa: S308
            results_chart.svg(found.chart, found.chart_unit, cumulative=True)
        ),
        "legend": mark_safe(results_chart.legend()),  # noqa: S308
        "log_url": log_url(campaign, mass_email),
        "domain_log_urls": {
            d: log_url(campaign, mass_email, email__iendswith=f"@{d}") for d, _f in found.domains
        },
    }
    if mass_email is not None:
        context.update(ab_context(request, mass_email))
        if "ab_test" in context:
            context["ab_test"]["can_choose"] = False  # chosen on the mass email's page
    return TemplateResponse(request, "admin/campaigns/results.html", context)


def campaign_results(model_admin: ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    return results_view(model_admin, request, get_object_or_404(Campaign, pk=pk))


def mass_email_results(model_admin: ModelAdmin, request: HttpRequest, pk: int) -> HttpResponse:
    mass_email = get_object_or_404(MassEmail.objects.select_related("campaign"), pk=pk)
    return results_view(model_admin, request, mass_email.campaign, mass_email)
