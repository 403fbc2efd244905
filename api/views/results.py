"""Results of a campaign and of a mass email (as the results pages show them), and the
events of the campaign log, a stream read with `since` and a cursor."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import pagination, query, sending
from api.problems import Problem
from api.scopes import RESULTS_READ
from api.serializers import results as shapes
from api.views.base import ApiView
from campaigns.models import Campaign, CampaignLogRecord, MassEmail
from campaigns.results import log_stream
from crm.models import EmailAddress
from crm.models.people import normalize_address

Action = CampaignLogRecord.Action
RESULTS_PERMISSIONS = ["campaigns.view_campaign", "campaigns.view_campaignlogrecord"]
EVENT_FIELDS = (
    "id",
    "action",
    "action_date",
    "campaign_id",
    "queue_item_id",
    "queue_item__mass_email_id",
    "email",
    "account_id",
    "contact_id",
    "lead_id",
    "user_id",
    "tracking_url_id",
    "bounce_type",
    "bounce_detail",
    "exit_reason",
    "is_test",
)


class ResultsView(ApiView):
    scopes = {"GET": RESULTS_READ}
    permissions = {"GET": RESULTS_PERMISSIONS}


class CampaignResultsView(ResultsView):
    """GET /api/v1/campaigns/{id}/results/"""

    @extend_schema(responses=shapes.ResultsSerializer, tags=["results"])
    def get(self, request: Request, pk: int) -> Response:
        campaign = _found(Campaign.objects.all(), pk)
        return Response(shapes.results(sending.results(campaign)))


class MassEmailResultsView(ResultsView):
    """GET /api/v1/mass-emails/{id}/results/"""

    @extend_schema(responses=shapes.ResultsSerializer, tags=["results"])
    def get(self, request: Request, pk: int) -> Response:
        mass_email = _found(MassEmail.objects.select_related("campaign"), pk)
        return Response(shapes.results(sending.results(mass_email.campaign, mass_email)))


def _found(rows: QuerySet, pk: int):
    found = rows.filter(pk=pk).first() if 0 < pk <= query.LARGEST_ID else None
    if found is None:
        raise Problem("not_found")
    return found


class EventListView(ResultsView):
    """GET /api/v1/events/: the campaign log, one event per record, in stream order."""

    cursor_ordering = ("id",)
    cursor_stream = True
    pagination_class = pagination.CursorPagination

    @extend_schema(
        responses=shapes.EventSerializer(many=True),
        tags=["results"],
        parameters=[
            query.parameter("since", "datetime", "Events at or after this time."),
            query.parameter("campaign", "id", "Events of this campaign."),
            query.parameter("mass_email", "id", "Events of this mass email."),
            query.parameter("type", Action.values, "Events of this type."),
            query.parameter("email", "text", "Events of this address."),
            query.parameter("tests", "flag", "true: test sends' events too."),
        ],
        description="The campaign log as a stream: keep `next_cursor` (also on the last "
        "page) and ask again later for what is new.",
    )
    def get(self, request: Request) -> Response:
        records = log_stream.stream(self._filtered(request), query.moment(request, "since"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(records.values(*EVENT_FIELDS), request, view=self)
        human = log_stream.human_flags(page)
        return paginator.get_paginated_response([_event(row, human) for row in page])

    def _filtered(self, request: Request) -> QuerySet:
        records = CampaignLogRecord.objects.all()
        if not query.flag(request, "tests"):
            records = records.filter(is_test=False)
        for name, column in (
            ("campaign", "campaign_id"),
            ("mass_email", "queue_item__mass_email_id"),
        ):
            value = query.integer(request, name)
            if value:
                records = records.filter(**{column: value})
        kind = query.choice(request, "type", Action.values)
        if kind:
            records = records.filter(action=kind)
        email = query.text(request, "email")
        if email:
            address = EmailAddress.objects.filter(address_lower=normalize_address(email)).first()
            records = records.filter(email_address=address) if address else records.none()
        return records


def _event(row: dict, human: dict) -> dict:
    person = None
    for kind in ("contact", "lead", "account", "user"):
        if row[f"{kind}_id"]:
            person = {"type": kind, "id": row[f"{kind}_id"]}
    return {
        "id": row["id"],
        "type": row["action"],
        "at": row["action_date"],
        "campaign": row["campaign_id"],
        "mass_email": row["queue_item__mass_email_id"],
        "email": row["email"],
        "person": person,
        "tracking_url": row["tracking_url_id"],
        "bounce_type": row["bounce_type"] or None,
        "bounce_detail": row["bounce_detail"],
        "exit_reason": row["exit_reason"] or None,
        "human": human.get(row["id"]),
        "is_test": row["is_test"],
    }
