from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from crm import views

# Refused requests get a page in the look of where they were headed (crm.error_pages).
handler400 = "crm.error_pages.bad_request"
handler404 = "crm.error_pages.not_found"

urlpatterns = [
    # Before admin/, whose catch-all would otherwise answer these paths.
    path("admin/captured-mail/", views.captured_mail_list, name="captured_mail_list"),
    path(
        "admin/captured-mail/<str:name>/", views.captured_mail_detail, name="captured_mail_detail"
    ),
    path(
        "admin/captured-mail/<str:name>/html/", views.captured_mail_html, name="captured_mail_html"
    ),
    path("admin/", admin.site.urls),
    path("t/", include("tracking.urls")),
    path("f/", include("people.urls")),  # signup forms (people.views)
    path("site-check/", views.site_check, name="site_check"),
]
if settings.ANYMAIL.get("WEBHOOK_SECRET"):
    # ESPs report bounces, complaints, unsubscribes, opens and clicks here (tracking.esp).
    urlpatterns.append(path("anymail/", include("tracking.esp_urls")))
