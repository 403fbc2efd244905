"""What every API view shares: NUL checks on the address, rate limit before permissions,
Idempotency-Key on unsafe methods, RateLimit-* headers, and `api_action` for extra actions.

    class ThingViewSet(ApiViewSet):
        scopes = {"GET": scopes.X_READ, "POST": scopes.X_WRITE}
        permissions = {"GET": ["app.view_thing"], "POST": ["app.add_thing"]}

        @api_action(detail=True, methods=["post"], scope=scopes.SEND,
                    permissions=["app.change_thing"])
        def launch(self, request, pk=None): ...
"""

from django.db import transaction
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api import idempotency
from api.problems import Problem
from api.query import LARGEST_ID


def api_action(*, scope: str | dict, permissions=(), **kwargs):
    """DRF's @action, with the scope and the Django permissions the action needs: one each,
    or a dict by HTTP method for an action that takes several; permissions may also be a
    function of the view (a base class's action whose model its subclasses set)."""

    def decorate(function):
        function.api_scope = scope
        function.api_permissions = permissions
        return action(**kwargs)(function)

    return decorate


class ApiMixin:
    """The request cycle of every API view (see the module)."""

    def initial(self, request: Request, *args, **kwargs) -> None:
        if (
            "\x00" in request.path
            or "\x00" in request.META.get("QUERY_STRING", "")
            or any(
                "\x00" in name or any("\x00" in value for value in values)
                for name, values in request.query_params.lists()
            )
        ):
            raise Problem("nul_character", "The address or a query parameter holds NUL.")
        self.format_kwarg = self.get_format_suffix(**kwargs)
        negotiated = self.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = negotiated
        request.version, request.versioning_scheme = self.determine_version(
            request, *args, **kwargs
        )
        self.perform_authentication(request)
        if request.user is not None and request.user.is_authenticated:
            self.check_throttles(request)  # every authenticated call costs a token
        self.check_permissions(request)

    def dispatch(self, request, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            handler = self._handler(request)
            key = idempotency.key_of(request)
            if key:
                response = self._idempotent(handler, key, request, *args, **kwargs)
            else:
                response = handler(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001  (DRF's handler: known ones → problem+json)
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def _handler(self, request: Request):
        method = request.method.lower()
        if method in self.http_method_names:
            return getattr(self, method, self.http_method_not_allowed)
        return self.http_method_not_allowed

    def _idempotent(self, handler, key: str, request: Request, *args, **kwargs):
        row = idempotency.begin(request, key)
        if row.status is not None:
            return idempotency.replay(row)
        with transaction.atomic():
            row = idempotency.lock(row)
            if row.status is not None:
                return idempotency.replay(row)
            try:
                with transaction.atomic():
                    response = handler(request, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001  (unknown ones re-raised: rolled back)
                response = self.handle_exception(exc)
            response = self.finalize_response(request, response, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
            idempotency.finish(row, response)
        return response

    def finalize_response(self, request: Request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        decision = getattr(request._request, "api_rate", None)
        if decision is not None:
            for name, value in decision.headers().items():
                response[name] = value
            if not decision.allowed:
                response["Retry-After"] = str(decision.retry_after)
        response.setdefault("Cache-Control", "no-store")
        return response


class ApiView(ApiMixin, APIView):
    """A plain API view (scopes and permissions per method)."""


class ApiViewSet(ApiMixin, viewsets.GenericViewSet):
    """A viewset; mix in DRF's list/create/retrieve/… mixins as needed. Ids in paths are
    whole numbers; one past 64 bits finds nothing (404), as any unknown id."""

    lookup_value_regex = "[0-9]+"

    def get_object(self):
        value = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, "")
        if not str(value).isdigit() or not 0 < int(value) <= LARGEST_ID:
            raise Problem("not_found")
        return super().get_object()

    def _reread(self, serializer) -> None:
        # Answer as a read would: with the queryset's annotations (counts) and joins.
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)


class CreateMixin(mixins.CreateModelMixin):
    """DRF's create, answering the record as a read of it would."""

    def perform_create(self, serializer) -> None:
        serializer.save()
        self._reread(serializer)


class UpdateMixin(mixins.UpdateModelMixin):
    """DRF's update (PUT and PATCH), answering the record as a read of it would."""

    def perform_update(self, serializer) -> None:
        serializer.save()
        self._reread(serializer)


# The five actions of a resource a caller may create, read, change and delete.
CRUD = (
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    CreateMixin,
    UpdateMixin,
    mixins.DestroyModelMixin,
)


def ok(data, status: int = 200, headers=None) -> Response:
    return Response(data, status=status, headers=headers)
