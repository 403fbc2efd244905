"""Target lists: CRUD, their members, and bulk membership (add, remove, opt out).

A membership call of up to SYNC_ITEMS items answers at once (200, a result per item); a bigger
one, up to 100,000, is kept as a job (202 with the job, Location /api/v1/jobs/{id}).
"""

from django.db.models import Count, Q, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from api import jobs, query
from api.models import ApiKey
from api.problems import Problem
from api.scopes import LISTS_READ, LISTS_WRITE
from api.serializers.jobs import JobSerializer
from api.serializers.lists import (
    AddMembersRequestSerializer,
    MemberSerializer,
    MembershipResultSerializer,
    MembersRequestSerializer,
    TargetListSerializer,
)
from api.views.base import CRUD, ApiViewSet, api_action
from targetlists import membership
from targetlists.models import TargetList, TargetListEntry

MEMBER_FILTERS = [
    query.parameter("type", sorted(membership.MODELS), "Only members of this kind."),
    query.parameter("opted_out", "flag", "Only members opted out of the list (or not)."),
]


def selection(data, operation: str) -> tuple[membership.Selection, dict]:
    """The membership call's selection and options from the JSON body; raises Problem."""
    if not isinstance(data, dict):
        raise Problem("invalid_fields", errors={"non_field_errors": ["Send a JSON object."]})
    given = [name for name in (membership.EMAILS, membership.IDS) if name in data]
    if len(given) != 1:
        message = "Give either `emails` or `ids` (a list), not both."
        raise Problem("invalid_fields", errors={"emails": [message]})
    values = data[given[0]]
    item_type = str if given[0] == membership.EMAILS else int
    if not isinstance(values, list):
        raise Problem("invalid_fields", errors={given[0]: ["Expected a list."]})
    if not all(type(value) is item_type for value in values):
        what = "texts" if item_type is str else "whole numbers"
        raise Problem("invalid_fields", errors={given[0]: [f"Expected a list of {what}."]})
    if len(values) > membership.MAX_ITEMS:
        raise Problem("too_many_items", f"{len(values):,} items; at most 100,000 a call.")
    kind = data.get("type", "contact")
    if kind not in membership.MODELS:
        raise Problem("invalid_fields", errors={"type": ["One of account, contact, lead."]})
    options = {"kind": kind, "by": given[0]}
    if operation == "target_list_members.add":
        options.update(_consent(data))
    return membership.Selection(kind, given[0], values), options


def _consent(data: dict) -> dict:
    resubscribe, text = data.get("resubscribe", False), data.get("consent_text", "")
    if not isinstance(resubscribe, bool):
        raise Problem("invalid_fields", errors={"resubscribe": ["Must be true or false."]})
    if not isinstance(text, str):
        raise Problem("invalid_fields", errors={"consent_text": ["Must be a text."]})
    if resubscribe and not text.strip():
        raise Problem("consent_required")
    return {"resubscribe": resubscribe, "consent_text": text}


@extend_schema(tags=["target lists"])
class TargetListViewSet(*CRUD, ApiViewSet):
    serializer_class = TargetListSerializer
    scopes = {m: LISTS_WRITE for m in ("POST", "PUT", "PATCH", "DELETE")} | {"GET": LISTS_READ}
    permissions = {
        "GET": ["targetlists.view_targetlist"],
        "POST": ["targetlists.add_targetlist"],
        "PUT": ["targetlists.change_targetlist"],
        "PATCH": ["targetlists.change_targetlist"],
        "DELETE": ["targetlists.delete_targetlist"],
    }

    def get_queryset(self) -> QuerySet:
        lists = TargetList.objects.annotate(
            entry_count=Count("entries"),
            opted_out_count=Count("entries", filter=Q(entries__opted_out=True)),
        )
        if getattr(self, "swagger_fake_view", False):
            return lists  # the schema generator's request has no query
        name = query.text(self.request, "name")
        return lists.filter(name__icontains=name) if name else lists

    @extend_schema(parameters=[query.parameter("name", "text", "Lists whose name contains it.")])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=MEMBER_FILTERS,
        responses=MemberSerializer(many=True),
        methods=["GET"],
    )
    @extend_schema(
        request=AddMembersRequestSerializer,
        responses={200: MembershipResultSerializer, 202: JobSerializer},
        methods=["POST"],
        description="Add people by `emails` or `ids` (up to 100,000; over 1,000: a job).",
    )
    @extend_schema(
        request=MembersRequestSerializer,
        responses={200: MembershipResultSerializer, 202: JobSerializer},
        methods=["DELETE"],
        description="Remove people (opted-out entries stay, so their opt-out is kept).",
    )
    @api_action(
        detail=True,
        methods=["get", "post", "delete"],
        url_path="members",
        scope={"GET": LISTS_READ, "POST": LISTS_WRITE, "DELETE": LISTS_WRITE},
        permissions={
            "GET": ["targetlists.view_targetlistentry"],
            "POST": ["targetlists.add_targetlistentry"],
            "DELETE": ["targetlists.delete_targetlistentry"],
        },
    )
    def members(self, request: Request, pk=None) -> Response:
        target_list = self.get_object()
        if request.method == "POST":
            return self._membership(request, target_list, "target_list_members.add")
        if request.method == "DELETE":
            return self._membership(request, target_list, "target_list_members.remove")
        return self._member_list(request, target_list)

    @extend_schema(
        request=MembersRequestSerializer,
        responses={
            200: MembershipResultSerializer,
            202: OpenApiResponse(JobSerializer, description="Over 1,000 items: a job."),
        },
        description="Opt people out of the list (an opted-out entry is added if need be).",
    )
    @api_action(
        detail=True,
        methods=["post"],
        url_path="members/opt-out",
        scope=LISTS_WRITE,
        permissions=["targetlists.change_targetlistentry", "targetlists.add_targetlistentry"],
    )
    def opt_out(self, request: Request, pk=None) -> Response:
        return self._membership(request, self.get_object(), "target_list_members.opt_out")

    def _member_list(self, request: Request, target_list: TargetList) -> Response:
        entries = TargetListEntry.objects.filter(target_list=target_list).select_related(
            "account__email_address", "contact__email_address", "lead__email_address", "user"
        )
        kind = query.choice(request, "type", sorted(membership.MODELS))
        if kind:
            entries = entries.filter(**{f"{kind}__isnull": False})
        opted_out = query.flag(request, "opted_out")
        if opted_out is not None:
            entries = entries.filter(opted_out=opted_out)
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    def _membership(self, request: Request, target_list: TargetList, operation: str):
        chosen, parameters = selection(request.data, operation)
        parameters["source"] = _source(request)
        if len(chosen.values) <= jobs.SYNC_ITEMS:
            try:
                results = jobs.perform(operation, target_list, parameters, chosen.values)
            except membership.ConsentRequired as exc:
                raise Problem("consent_required", str(exc)) from exc
            return Response(
                {
                    "counts": membership.counts(results),
                    "results": [jobs.as_json(i, item) for i, item in enumerate(results)],
                }
            )
        job = jobs.enqueue(
            user=request.user,
            api_key=request.auth if isinstance(request.auth, ApiKey) else None,
            operation=operation,
            target_list=target_list,
            parameters=parameters,
            items=chosen.values,
        )
        location = reverse("api:job-detail", args=[job.pk], request=request)
        body = JobSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


def _source(request: Request) -> str:
    """What consent records name as their source: the API key (or the admin user)."""
    if isinstance(request.auth, ApiKey):
        return f"API key {request.auth.name} ({request.auth.prefix})"
    return f"API ({request.user.get_username()})"
