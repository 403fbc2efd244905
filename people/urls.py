"""Public signup URLs: hosted (and embeddable) forms and double opt-in confirmation links."""

from django.urls import path

from people import views

app_name = "people"
urlpatterns = [
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("<str:key>/", views.signup_page, name="signup"),
]
