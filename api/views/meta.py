"""The API about itself: the calling key, the problem codes, the schema and its docs page."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from api.models import ApiKey
from api.problems import PROBLEMS, problem_type
from api.scopes import ANY, SCOPES
from api.views.base import ApiView


class CallingKeySerializer(serializers.Serializer):
    name = serializers.CharField()
    prefix = serializers.CharField()
    user = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField(allow_null=True)
    rate_per_minute = serializers.IntegerField()


class ProblemKindSerializer(serializers.Serializer):
    type = serializers.CharField()
    code = serializers.CharField()
    status = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()


class CallingKeyView(ApiView):
    """GET /api/v1/key/: the key (or session) making the call: its scopes and user."""

    scopes = {"GET": ANY}

    @extend_schema(responses=CallingKeySerializer, operation_id="key_retrieve")
    def get(self, request: Request) -> Response:
        from django.conf import settings

        key = request.auth if isinstance(request.auth, ApiKey) else None
        return Response(
            {
                "name": key.name if key else "session",
                "prefix": key.prefix if key else "",
                "user": request.user.get_username(),
                "scopes": key.scopes if key else sorted(SCOPES),
                "expires_at": key.expires_at if key else None,
                "rate_per_minute": (key and key.rate_per_minute) or settings.API_RATE_PER_MINUTE,
            }
        )


def _kind(request: Request, code: str) -> dict:
    kind = PROBLEMS[code]
    return {
        "type": problem_type(code),
        "code": code,
        "status": kind.status,
        "title": kind.title,
        "description": kind.description,
    }


class ProblemListView(ApiView):
    """GET /api/v1/problems/: every problem code the API answers with."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()

    @extend_schema(responses=ProblemKindSerializer(many=True), auth=[])
    def get(self, request: Request) -> Response:
        return Response([_kind(request, code) for code in sorted(PROBLEMS)])


class ProblemDetailView(ApiView):
    """GET /api/v1/problems/{code}: what one problem code means (a problem's `type`)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()

    @extend_schema(responses=ProblemKindSerializer, auth=[])
    def get(self, request: Request, code: str) -> Response:
        if code not in PROBLEMS:
            raise Http404
        return Response(_kind(request, code))


class SchemaView(SpectacularAPIView):
    """GET /api/v1/schema/: the OpenAPI 3 schema (YAML, or JSON with ?format=json)."""

    authentication_classes = ()
    throttle_classes = ()


class DocsView(SpectacularSwaggerSplitView):
    """GET /api/v1/docs/: Swagger UI from our static files (drf-spectacular-sidecar)."""

    template_name = "api/swagger_ui.html"
    throttle_classes = ()
