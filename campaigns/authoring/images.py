"""Images uploaded from the visual builder: checked, stored in the media storage, served at the
site URL (a mail never carries an image as a data: address).

An image is a PNG, JPEG or GIF (what every mail app shows; SVG is refused: mail apps do not
show it and it can hold script) of at most BUILDER_IMAGE_MAX_MEGABYTES, recognised by its
first bytes, never by its name. It is stored under `builder/` by the hash of its content, so the
same image uploaded twice is stored once and its address never changes: it is served with a
year-long cache, to recipients' mail apps without logging in.
"""

import hashlib
import mimetypes
import re

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from campaigns.models import MassEmailSettings
from crm.security_headers import content_security_policy

FOLDER = "builder"
KINDS = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg", b"GIF87a": "gif", b"GIF89a": "gif"}
NAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{40}\.(png|jpg|gif)")
YEAR = 365 * 24 * 3600


class ImageError(ValueError):
    """An upload that is not an image we store; the message tells the marketer why."""


def image_kind(head: bytes) -> str | None:
    """ "png", "jpg" or "gif" from a file's first bytes; None for anything else."""
    return next((kind for magic, kind in KINDS.items() if head.startswith(magic)), None)


def store_image(upload) -> str:
    """Stores the uploaded file and returns its name under FOLDER; raises ImageError."""
    megabytes = settings.BUILDER_IMAGE_MAX_MEGABYTES
    if upload.size > megabytes * 1024 * 1024:
        message = _("“%(name)s” is larger than %(max)s MB; make it smaller and upload it again.")
        raise ImageError(message % {"name": upload.name, "max": megabytes})
    data = upload.read()
    kind = image_kind(data[:8])
    if kind is None:
        message = _("“%(name)s” is not a PNG, JPEG or GIF image, which every mail app shows.")
        raise ImageError(message % {"name": upload.name})
    digest = hashlib.sha256(data).hexdigest()
    name = f"{digest[:2]}/{digest[2:42]}.{kind}"
    if not default_storage.exists(f"{FOLDER}/{name}"):
        default_storage.save(f"{FOLDER}/{name}", ContentFile(data))
    return name


def image_url(name: str, base_url: str) -> str:
    """The address of a stored image at the site URL, as sent mail links it."""
    return base_url.rstrip("/") + reverse("builder_image", args=[name])


@require_POST
def upload(request: HttpRequest, model_admin) -> JsonResponse:
    """The builder's asset manager posts its files here (field `files`); answers with their
    addresses in the form GrapesJS reads, or a 400 naming the first file refused."""
    if not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request)):
        raise PermissionDenied
    files = request.FILES.getlist("files")
    if not files:
        return JsonResponse({"error": _("Choose an image to upload.")}, status=400)
    base_url = MassEmailSettings.load().base_url
    stored = []
    for file in files:
        try:
            stored.append({"src": image_url(store_image(file), base_url), "type": "image"})
        except ImageError as exc:
            return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"data": stored})


@require_GET
@content_security_policy(default_src=["'none'"], sandbox=[])
def serve(request: HttpRequest, name: str) -> HttpResponse:
    """A stored builder image, to anyone (mail apps fetch it without logging in)."""
    if not NAME.fullmatch(name) or not default_storage.exists(f"{FOLDER}/{name}"):
        raise Http404
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(default_storage.open(f"{FOLDER}/{name}"), content_type=content_type)
    response["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response
