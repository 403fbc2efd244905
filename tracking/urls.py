"""Public URLs recipients reach from an email. The sender builds them with these names."""

from django.urls import path, register_converter

from tracking import views


class AnyText:
    """Any text, slashes and line breaks included (Django's <path:> stops at a line break)."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AnyText, "anytext")

app_name = "tracking"
urlpatterns = [
    # Any path under o/ is the pixel: it answers its image even for a mangled token.
    path("o/<anytext:token>/", views.open_pixel, name="open"),
    path("c/<str:token>/", views.click, name="click"),
    path("u/<str:token>/", views.opt_out, name="opt_out"),
    path("u/<str:token>/one-click/", views.one_click_unsubscribe, name="one_click"),
    path("u/<str:token>/again/", views.subscribe_again, name="subscribe_again"),
]
