from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from campaigns.admin import dashboard
from campaigns.authoring import images
from campaigns.authoring.web_view import web_view
from crm import views

# Refused requests get a page in the look of where they were headed (crm.error_pages).
handler400 = "crm.error_pages.bad_request"
handler404 = "crm.error_pages.not_found"

urlpatterns = [
    # No public site: the address alone opens the admin; browsers asking for /favicon.ico get ours.
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("favicon.ico", RedirectView.as_view(url=static("crm/favicon.svg"), permanent=True)),
    # Before admin/, whose catch-all would otherwise answer these paths.
    path("admin/captured-mail/", views.captured_mail_list, name="captured_mail_list"),
    path(
        "admin/captured-mail/<str:name>/", views.captured_mail_detail, name="captured_mail_detail"
    ),
    path(
        "admin/captured-mail/<str:name>/html/", views.captured_mail_html, name="captured_mail_html"
    ),
    # The marketers' dashboard is the admin's first page; Django's list of models is a click away.
    path("admin/", dashboard.dashboard, name="dashboard"),
    path("admin/models/", dashboard.models, name="admin_models"),
    path("admin/", admin.site.urls),
    path("t/", include("tracking.urls")),
    path("t/v/<str:token>/", web_view, name="web_view"),
    path("f/", include("people.urls")),  # signup forms (people.views)
    path("site-check/", views.site_check, name="site_check"),
    path("api/v1/", include("api.urls")),  # the REST API (api/, docs/api.md)
    # Images uploaded from the visual builder, for mail apps (campaigns.authoring.images); a web
    # server may serve MEDIA_ROOT/builder/ here itself (never all of MEDIA_ROOT: it holds imports).
    path("media/builder/<path:name>", images.serve, name="builder_image"),
]
if settings.ANYMAIL.get("WEBHOOK_SECRET"):
    # ESPs report bounces, complaints, unsubscribes, opens and clicks here (tracking.esp).
    urlpatterns.append(path("anymail/", include("tracking.esp_urls")))
