"""Webhook endpoints: create (the secret answered once), list, read, change, delete; a test
event, the attempts log, the deliveries, redelivery of what failed since, secret rotation.
The rules are webhooks.endpoints', as in the admin."""

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from api.problems import Problem
from api.scopes import WEBHOOKS_MANAGE
from api.serializers import webhooks as shapes
from api.views.base import ApiViewSet, UpdateMixin, api_action
from webhooks import endpoints
from webhooks.models import Attempt, Delivery, Endpoint

PERMISSIONS = {
    "GET": ["webhooks.view_endpoint"],
    "POST": ["webhooks.add_endpoint"],
    "PUT": ["webhooks.change_endpoint"],
    "PATCH": ["webhooks.change_endpoint"],
    "DELETE": ["webhooks.delete_endpoint"],
}


def _checked(data: dict, endpoint: Endpoint | None = None) -> None:
    url = data.get("url", endpoint.url if endpoint else "")
    types = data.get("events", endpoint.events if endpoint else [])
    batch_size = data.get("batch_size", endpoint.batch_size if endpoint else 1)
    try:
        endpoints.check(url, types, batch_size)
    except endpoints.EndpointInvalid as exc:
        raise Problem("invalid_fields", errors={exc.field: [str(exc)]}) from exc


@extend_schema(tags=["webhooks"])
class WebhookViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    UpdateMixin,
    mixins.DestroyModelMixin,
    ApiViewSet,
):
    serializer_class = shapes.EndpointSerializer
    queryset = Endpoint.objects.prefetch_related("target_lists", "campaigns")
    scopes = dict.fromkeys(PERMISSIONS, WEBHOOKS_MANAGE)
    permissions = PERMISSIONS

    @extend_schema(
        request=shapes.EndpointSerializer,
        responses={201: shapes.CreatedEndpointSerializer},
        description="Make an endpoint; the answer carries its `secret`, shown only this once.",
    )
    def create(self, request: Request) -> Response:
        serializer = shapes.EndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        _checked(data)
        endpoint, secret = endpoints.create(
            data.pop("url"), data.pop("events", []), owner=request.user, **data
        )
        body = dict(shapes.EndpointSerializer(self.get_queryset().get(pk=endpoint.pk)).data)
        body["secret"] = secret
        location = reverse("api:webhook-detail", args=[endpoint.pk], request=request)
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": location})

    def perform_update(self, serializer) -> None:
        _checked(serializer.validated_data, serializer.instance)
        enabling = serializer.validated_data.get("enabled") and not serializer.instance.enabled
        super().perform_update(serializer)
        if enabling:
            endpoints.enable(serializer.instance)
            self._reread(serializer)

    @extend_schema(request=None, responses=shapes.WebhookTestResultSerializer)
    @api_action(
        detail=True, methods=["post"], scope=WEBHOOKS_MANAGE, permissions=PERMISSIONS["PUT"]
    )
    def test(self, request: Request, pk=None) -> Response:
        """Post a `webhook.test` event to the endpoint now and answer what it said."""
        result = endpoints.send_test(self.get_object())
        result.delivery.refresh_from_db()
        return Response(
            {
                "delivered": result.succeeded,
                "status_code": result.answer.status if result.answer else None,
                "error": result.error,
                "delivery": shapes.DeliverySerializer(result.delivery).data,
            }
        )

    @extend_schema(responses=shapes.AttemptSerializer(many=True))
    @api_action(detail=True, methods=["get"], scope=WEBHOOKS_MANAGE, permissions=PERMISSIONS["GET"])
    def attempts(self, request: Request, pk=None) -> Response:
        """The endpoint's attempts of the last 30 days, newest first."""
        found = Attempt.objects.filter(endpoint=self.get_object()).select_related("delivery")
        page = self.paginate_queryset(found.order_by("-id"))
        return self.get_paginated_response(shapes.AttemptSerializer(page, many=True).data)

    @extend_schema(responses=shapes.DeliverySerializer(many=True))
    @api_action(detail=True, methods=["get"], scope=WEBHOOKS_MANAGE, permissions=PERMISSIONS["GET"])
    def deliveries(self, request: Request, pk=None) -> Response:
        """The endpoint's deliveries, newest first."""
        found = Delivery.objects.filter(endpoint=self.get_object()).order_by("-id")
        page = self.paginate_queryset(found)
        return self.get_paginated_response(shapes.DeliverySerializer(page, many=True).data)

    @extend_schema(request=shapes.RedeliverSerializer, responses=shapes.RedeliveredSerializer)
    @api_action(
        detail=True, methods=["post"], scope=WEBHOOKS_MANAGE, permissions=PERMISSIONS["PUT"]
    )
    def redeliver(self, request: Request, pk=None) -> Response:
        """Send again, in order, the deliveries created since `since` that failed for good."""
        serializer = shapes.RedeliverSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        since = serializer.validated_data["since"]
        if since > timezone.now():
            raise Problem("invalid_fields", errors={"since": ["A time in the past."]})
        return Response({"redelivered": endpoints.redeliver_failed(self.get_object(), since)})

    @extend_schema(request=None, responses=shapes.SecretSerializer)
    @api_action(
        detail=True,
        methods=["post"],
        url_path="rotate-secret",
        scope=WEBHOOKS_MANAGE,
        permissions=PERMISSIONS["PUT"],
    )
    def rotate_secret(self, request: Request, pk=None) -> Response:
        """A new secret (answered once); the old one signs too for 24 hours."""
        return Response({"secret": endpoints.rotate_secret(self.get_object())})

    def get_queryset(self) -> QuerySet:
        return super().get_queryset().order_by("-id")
