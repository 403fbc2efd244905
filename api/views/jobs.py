"""The job resource: the status and per-item results of a bulk call answered 202."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from api import jobs, pagination
from api.models import Job
from api.scopes import ANY
from api.serializers.jobs import JobSerializer
from api.serializers.lists import ItemResultSerializer
from api.views.base import ApiViewSet, api_action


@extend_schema(tags=["jobs"])
class JobViewSet(mixins.RetrieveModelMixin, ApiViewSet):
    """A caller sees the jobs its user started."""

    serializer_class = JobSerializer
    scopes = {"GET": ANY}

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return Job.objects.none()  # the schema generator has no user
        return Job.objects.filter(user=self.request.user).defer("items")

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        job = self.get_object()
        jobs.resume_if_stalled(job)
        return Response(JobSerializer(job, context={"request": request}).data)

    @extend_schema(
        responses=ItemResultSerializer(many=True),
        parameters=pagination.schema_parameters(),
    )
    @api_action(detail=True, methods=["get"], url_path="results", scope=ANY)
    def results(self, request: Request, pk=None) -> Response:
        """The per-item results of a finished job, in the order of the call's items."""
        job = self.get_object()
        limit = pagination.parse_limit(request)
        cursor = request.query_params.get("cursor", "")
        start = pagination.decode(("index",), cursor)[0] + 1 if cursor else 0
        found = jobs.results_page(job, start, limit)
        more = start + limit < job.total and job.status == Job.Status.DONE
        next_cursor = pagination.encode(("index",), [start + limit - 1]) if more else None
        next_url = None
        if next_cursor:
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", next_cursor)
        return Response({"results": found, "next_cursor": next_cursor, "next": next_url})
