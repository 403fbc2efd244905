"""Email templates (with a render preview), campaigns, mass emails (with the status changes a
marketer has, a test send and the recipient count) and tracking URLs."""

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import query, sending
from api.problems import Problem
from api.scopes import CAMPAIGNS_READ, CAMPAIGNS_WRITE
from api.serializers import campaigns as shapes
from api.views.base import CRUD, ApiViewSet, api_action
from campaigns.models import Campaign, CampaignStatus, CampaignType, TrackingUrl
from crm.models import Account, Contact, EmailTemplate, Lead
from crm.placeholders import SamplePerson

PEOPLE = {"account": Account, "contact": Contact, "lead": Lead}


def crud_rules(model_label: str) -> tuple[dict, dict]:
    """(scopes, permissions) of a campaigns:read/write resource on `app.model`."""
    app, model = model_label.split(".")
    scopes = {"GET": CAMPAIGNS_READ} | {
        m: CAMPAIGNS_WRITE for m in ("POST", "PUT", "PATCH", "DELETE")
    }
    permissions = {
        "GET": [f"{app}.view_{model}"],
        "POST": [f"{app}.add_{model}"],
        "PUT": [f"{app}.change_{model}"],
        "PATCH": [f"{app}.change_{model}"],
        "DELETE": [f"{app}.delete_{model}"],
    }
    return scopes, permissions


@extend_schema(tags=["email templates"])
class EmailTemplateViewSet(*CRUD, ApiViewSet):
    serializer_class = shapes.EmailTemplateSerializer
    queryset = EmailTemplate.objects.all()
    scopes, permissions = crud_rules("crm.emailtemplate")

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "person",
                {"type": "string", "pattern": r"^(sample|(account|contact|lead):[0-9]{1,18})$"},
                OpenApiParameter.QUERY,
                description="`sample` (every field filled; the default) or `contact:12`, "
                "`lead:3`, `account:7`.",
            )
        ],
        responses=shapes.PreviewSerializer,
    )
    @api_action(
        detail=True, methods=["get"], scope=CAMPAIGNS_READ, permissions=["crm.view_emailtemplate"]
    )
    def preview(self, request: Request, pk=None) -> Response:
        """The template rendered for a person: subject, preheader, HTML and text."""
        template = self.get_object()
        person = self._person(request)
        rendered, errors = sending.render_fields(template, person)
        return Response({"person": str(person), **rendered, "errors": errors})

    def _person(self, request: Request):
        choice = request.query_params.get("person", "sample")
        if choice == "sample":
            return SamplePerson()
        kind, _colon, pk = choice.partition(":")
        model = PEOPLE.get(kind)
        if model is None or not pk.isascii() or not pk.isdigit() or len(pk) > 18:
            raise Problem("invalid_parameter", "person must be sample or kind:id, e.g. contact:12.")
        if not request.user.has_perm(f"crm.view_{kind}"):
            raise Problem("permission_denied", f"The key's user may not see {kind}s.")
        person = model.objects.filter(pk=int(pk)).first()
        if person is None:
            raise Problem("not_found", f"There is no {kind} {pk}.")
        return person


@extend_schema(tags=["campaigns"])
class CampaignViewSet(*CRUD, ApiViewSet):
    serializer_class = shapes.CampaignSerializer
    scopes, permissions = crud_rules("campaigns.campaign")

    def get_queryset(self) -> QuerySet:
        campaigns = Campaign.objects.prefetch_related("target_lists", "excluding_target_lists")
        if getattr(self, "swagger_fake_view", False) or self.action != "list":
            return campaigns
        chosen = {
            "status": query.choice(self.request, "status", CampaignStatus.values),
            "type": query.choice(self.request, "type", CampaignType.values),
        }
        return campaigns.filter(**{k: v for k, v in chosen.items() if v})

    @extend_schema(
        parameters=[
            query.parameter("status", CampaignStatus.values, "Campaigns in this status."),
            query.parameter("type", CampaignType.values, "Campaigns of this type."),
        ]
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)


@extend_schema(tags=["tracking URLs"])
class TrackingUrlViewSet(*CRUD, ApiViewSet):
    serializer_class = shapes.TrackingUrlSerializer
    scopes, permissions = crud_rules("campaigns.trackingurl")

    def get_queryset(self) -> QuerySet:
        links = TrackingUrl.objects.all()
        if getattr(self, "swagger_fake_view", False) or self.action != "list":
            return links
        campaign = query.integer(self.request, "campaign")
        return links.filter(campaign_id=campaign) if campaign else links

    @extend_schema(parameters=[query.parameter("campaign", "id", "Links of this campaign.")])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)
