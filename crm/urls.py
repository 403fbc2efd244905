from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from crm import views

urlpatterns = [
    # Before admin/, whose catch-all would otherwise answer these paths.
    path("admin/captured-mail/", views.captured_mail_list, name="captured_mail_list"),
    path(
        "admin/captured-mail/<str:name>/", views.captured_mail_detail, name="captured_mail_detail"
    ),
    path("admin/", admin.site.urls),
    path("t/", include("tracking.urls")),
    path("f/", include("people.urls")),  # signup forms (people.views)
    path("site-check/", views.site_check, name="site_check"),
]
if settings.ANYMAIL.get("WEBHOOK_SECRET"):
    # ESPs report bounces, complaints, unsubscribes, opens and clicks here (tracking.esp).
    urlpatterns.append(path("anymail/", include("anymail.urls")))
