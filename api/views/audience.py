"""The suppression list (addresses opted out of all mass email or invalid) and signup forms'
submissions from a website's backend (double opt-in as on the hosted page)."""

from collections import Counter

from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from api import query
from api.problems import Problem
from api.scopes import PEOPLE_READ, PEOPLE_WRITE, SIGNUP
from api.serializers import audience as shapes
from api.views.base import ApiViewSet, api_action
from crm import suppression
from crm.models import EmailAddress
from crm.models.people import normalize_address
from people import signup
from people.models import SignupForm


def _source(request: Request) -> str:
    key = request.auth
    return f"API key {key.name} ({key.prefix})" if hasattr(key, "prefix") else "API"


def _answer(results: list) -> dict:
    counts = Counter(str(item.result) for item in results)
    rows = [
        {"index": i, "value": item.value, "result": str(item.result), "error": item.error}
        for i, item in enumerate(results)
    ]
    return {"counts": dict(counts), "results": rows}


class SuppressionView(mixins.ListModelMixin, ApiViewSet):
    """GET lists the flagged addresses; POST flags addresses; DELETE lifts flags."""

    serializer_class = shapes.SuppressedSerializer
    scopes = {"GET": PEOPLE_READ, "POST": PEOPLE_WRITE, "DELETE": PEOPLE_WRITE}
    permissions = {
        "GET": ["crm.view_emailaddress"],
        "POST": ["crm.change_emailaddress", "crm.add_emailaddress"],
        "DELETE": ["crm.change_emailaddress"],
    }

    def get_queryset(self) -> QuerySet:
        addresses = EmailAddress.objects.filter(Q(opt_out=True) | Q(invalid=True))
        if getattr(self, "swagger_fake_view", False):
            return addresses
        reason = query.choice(self.request, "reason", list(suppression.FLAGS))
        if reason:
            addresses = addresses.filter(**{suppression.FLAGS[reason]: True})
        email = query.text(self.request, "email")
        if email:
            addresses = addresses.filter(address_lower=normalize_address(email))
        return addresses

    @extend_schema(
        tags=["suppression list"],
        parameters=[
            query.parameter("reason", list(suppression.FLAGS), "Only addresses flagged so."),
            query.parameter("email", "text", "Only this address."),
        ],
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        tags=["suppression list"],
        request=shapes.SuppressRequestSerializer,
        responses={200: shapes.SuppressionResultsSerializer},
        description="Flag up to 10,000 addresses; unknown ones are stored flagged.",
    )
    def create(self, request: Request) -> Response:
        data = shapes.SuppressRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        done = suppression.suppress(
            data.validated_data["emails"], data.validated_data["reason"], source=_source(request)
        )
        return Response(_answer(done))

    @extend_schema(
        tags=["suppression list"],
        request=shapes.LiftRequestSerializer,
        responses=shapes.SuppressionResultsSerializer,
        description="Lift the flag of up to 10,000 addresses (an opt-out: with consent_text).",
    )
    def remove(self, request: Request) -> Response:
        data = shapes.LiftRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            done = suppression.lift(
                data.validated_data["emails"],
                data.validated_data["reason"],
                consent_text=data.validated_data["consent_text"],
                source=_source(request),
            )
        except suppression.ConsentRequired as exc:
            raise Problem("consent_required", str(exc)) from exc
        return Response(_answer(done))


@extend_schema(tags=["signup forms"])
class SignupFormViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Signup forms (read-only here: they are set up in the admin) and their submissions."""

    serializer_class = shapes.SignupFormSerializer
    queryset = SignupForm.objects.prefetch_related("target_lists")
    scopes = {"GET": SIGNUP}
    permissions = {"GET": ["people.view_signupform"]}

    @extend_schema(
        request=shapes.SubmissionSerializer,
        responses={202: shapes.SubmissionAnswerSerializer},
        description="Sign a person up as the hosted page does: the Lead is found or created, "
        "and with double opt-in a confirmation email is sent. The answer is the same whether "
        "the address is new, known or already subscribed.",
    )
    @api_action(
        detail=True,
        methods=["post"],
        scope=SIGNUP,
        permissions=["people.view_signupform", "crm.add_lead"],
    )
    def submissions(self, request: Request, pk=None) -> Response:
        form = self.get_object()
        if not form.is_active:
            raise Problem("not_found", "This signup form is not active.")
        data = shapes.SubmissionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        problem = signup.address_error(fields["email"])
        if problem:
            raise Problem("invalid_fields", problem, errors={"email": [problem]})
        try:
            signup.submit_from_api(
                form,
                signup.Submission(
                    email=fields["email"].strip(),
                    first_name=fields.get("first_name", ""),
                    last_name=fields.get("last_name", ""),
                    company=fields.get("company", ""),
                    client_ip=fields.get("client_ip", ""),
                ),
            )
        except signup.TooManyRequests as exc:
            raise Problem(
                "rate_limited",
                "Too many signups from this client this hour (SIGNUP_RATE_PER_CLIENT).",
                headers={"Retry-After": "3600"},
            ) from exc
        answer = {"accepted": True, "double_opt_in": form.double_opt_in}
        return Response(answer, status=status.HTTP_202_ACCEPTED)
