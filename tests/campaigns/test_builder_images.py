"""Images uploaded from the builder: checked, stored once, served at the site URL to anyone."""

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from campaigns.models import MassEmailSettings
from tests.factories import MarketerFactory, UserFactory

pytestmark = pytest.mark.django_db
UPLOAD = "admin:crm_emailtemplate_builder_images"
# A 1×1 PNG, JPEG and GIF as their first bytes make them (the check reads only those).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00" * 9 + b",\x00"


@pytest.fixture
def marketer(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    MassEmailSettings.objects.update_or_create(pk=1, defaults={"site_url": "https://m.example"})
    client.force_login(MarketerFactory())


def upload(client, name: str, data: bytes, content_type: str = "image/png"):
    files = {"files": SimpleUploadedFile(name, data, content_type=content_type)}
    return client.post(reverse(UPLOAD), files)


def test_it_stores_an_image_once_and_serves_it_to_anyone_at_the_site_url(client, marketer):
    response = upload(client, "chair.png", PNG)
    assert response.status_code == 200
    (image,) = response.json()["data"]
    assert image["type"] == "image"
    assert image["src"].startswith("https://m.example/media/builder/")
    assert image["src"].endswith(".png")
    assert upload(client, "same-again.png", PNG).json()["data"][0]["src"] == image["src"]

    served = Client().get(image["src"].removeprefix("https://m.example"))  # no login
    assert served.status_code == 200 and b"".join(served.streaming_content) == PNG
    assert served["Content-Type"] == "image/png"
    assert "immutable" in served["Cache-Control"]
    assert served["X-Content-Type-Options"] == "nosniff"


def test_it_takes_a_gif_whatever_its_name_says(client, marketer):
    response = upload(client, "photo.jpg", GIF, "image/jpeg")
    assert response.json()["data"][0]["src"].endswith(".gif")


@pytest.mark.parametrize(
    "name, data, words",
    [
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', "not a PNG"),
        ("notes.png", b"just text", "not a PNG"),
        ("page.html", b"<html><script>alert(1)</script>", "not a PNG"),
    ],
)
def test_it_refuses_what_is_not_an_image_mail_apps_show(client, marketer, name, data, words):
    response = upload(client, name, data)
    assert response.status_code == 400 and words in response.json()["error"]
    assert name in response.json()["error"]


def test_it_refuses_an_image_over_the_size_limit(client, marketer, settings):
    settings.BUILDER_IMAGE_MAX_MEGABYTES = 1
    response = upload(client, "huge.png", PNG + b"\0" * (1024 * 1024))
    assert response.status_code == 400 and "larger than 1 MB" in response.json()["error"]


def test_it_asks_for_a_file_and_refuses_users_who_may_not_edit_templates(client, marketer):
    assert client.post(reverse(UPLOAD)).status_code == 400
    client.force_login(UserFactory(is_staff=True))
    assert upload(client, "chair.png", PNG).status_code == 403


@pytest.mark.parametrize(
    "path",
    ["ab/" + "0" * 40 + ".png", "../../settings.py", "ab/%00.png", "x" * 300, "ab/cd.svg"],
)
def test_it_answers_404_for_any_other_image_path(client, path):
    assert client.get(f"/media/builder/{path}").status_code == 404
