"""URLs for bench/tracking.py only: the product's URLs and a trivial view, served side by side."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from crm.urls import urlpatterns as product_urlpatterns


def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/trivial/", trivial), *product_urlpatterns]
