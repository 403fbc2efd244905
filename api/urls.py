"""URLs of the API, all under /api/v1/ (crm/urls.py mounts this module there)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from api.views import (
    audience,
    campaigns,
    imports,
    jobs,
    lists,
    mass_emails,
    meta,
    people,
    results,
    webhooks,
)
from crm.security_headers import ADMIN, content_security_policy

app_name = "api"
router = SimpleRouter(trailing_slash=True)
router.register("contacts", people.ContactViewSet, basename="contact")
router.register("leads", people.LeadViewSet, basename="lead")
router.register("accounts", people.AccountViewSet, basename="account")
router.register("email-templates", campaigns.EmailTemplateViewSet, basename="email-template")
router.register("campaigns", campaigns.CampaignViewSet, basename="campaign")
router.register("mass-emails", mass_emails.MassEmailViewSet, basename="mass-email")
router.register("tracking-urls", campaigns.TrackingUrlViewSet, basename="tracking-url")
router.register("target-lists", lists.TargetListViewSet, basename="target-list")
router.register("jobs", jobs.JobViewSet, basename="job")
router.register("imports", imports.ImportViewSet, basename="import")
router.register("signup-forms", audience.SignupFormViewSet, basename="signup-form")
router.register("webhooks", webhooks.WebhookViewSet, basename="webhook")

# The docs page runs Swagger UI from our static files: the admin's policy ('self' scripts,
# styles and fetches, the nonce'd style block, data: images), never a CDN.
docs_view = content_security_policy(base=ADMIN)(meta.DocsView.as_view(url_name="api:schema"))

urlpatterns = [
    path("schema/", meta.SchemaView.as_view(), name="schema"),
    path("docs/", docs_view, name="docs"),
    path("key/", meta.CallingKeyView.as_view(), name="key"),
    path("problems/", meta.ProblemListView.as_view(), name="problems"),
    path("problems/<str:code>", meta.ProblemDetailView.as_view(), name="problem"),
    path("events/", results.EventListView.as_view(), name="events"),
    path(
        "suppressions/",
        audience.SuppressionView.as_view({"get": "list", "post": "create", "delete": "remove"}),
        name="suppressions",
    ),
    path(
        "campaigns/<int:pk>/results/",
        results.CampaignResultsView.as_view(),
        name="campaign-results",
    ),
    path(
        "mass-emails/<int:pk>/results/",
        results.MassEmailResultsView.as_view(),
        name="mass-email-results",
    ),
    *router.urls,
]
