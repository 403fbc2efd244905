"""Mass emails: CRUD while Draft or Pending, and the status changes a marketer has (schedule,
unschedule, pause, resume, cancel, send now) as actions that refuse impossible changes with
409 invalid_transition; a test send; who would receive it; its progress; a copy."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api import query, sending
from api.problems import Problem
from api.scopes import CAMPAIGNS_READ, CAMPAIGNS_WRITE, SEND
from api.serializers import campaigns as shapes
from api.serializers.base import _errors
from api.views.base import CRUD, ApiViewSet, api_action
from api.views.campaigns import PEOPLE, crud_rules
from campaigns.models import MassEmail

CHANGE = ["campaigns.change_massemail"]
Status = MassEmail.Status


def _transition(**kwargs):
    """An action of the `send` scope that changes the status (POST, no body)."""
    return api_action(detail=True, methods=["post"], scope=SEND, permissions=CHANGE, **kwargs)


def _test_people(chosen: list[dict]) -> list:
    """The people a test send names; raises Problem naming those not found."""
    models = {**PEOPLE, "user": get_user_model()}
    found, missing = [], []
    for item in chosen:
        person = models[item["type"]].objects.filter(pk=item["id"]).first()
        (found if person else missing).append(person or f"{item['type']} {item['id']}")
    if missing:
        raise Problem("invalid_fields", errors={"people": [f"Not found: {', '.join(missing)}"]})
    return found


@extend_schema(tags=["mass emails"])
class MassEmailViewSet(*CRUD, ApiViewSet):
    serializer_class = shapes.MassEmailSerializer
    scopes, permissions = crud_rules("campaigns.massemail")

    def get_queryset(self) -> QuerySet:
        emails = MassEmail.objects.prefetch_related("target_lists", "excluding_target_lists")
        if getattr(self, "swagger_fake_view", False) or self.action != "list":
            return emails
        campaign = query.integer(self.request, "campaign")
        chosen = query.choice(self.request, "status", Status.values)
        if campaign:
            emails = emails.filter(campaign_id=campaign)
        return emails.filter(status=chosen) if chosen else emails

    @extend_schema(
        parameters=[
            query.parameter("campaign", "id", "Mass emails of this campaign."),
            query.parameter("status", Status.values, "Mass emails in this status."),
        ]
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    def perform_create(self, serializer) -> None:
        serializer.save(created_by=self.request.user)
        self._reread(serializer)

    def update(self, request: Request, *args, **kwargs) -> Response:
        with transaction.atomic():
            mass_email = MassEmail.objects.select_for_update().get(pk=self.get_object().pk)
            if not mass_email.is_editable:
                raise Problem(
                    "not_editable",
                    f"A {mass_email.get_status_display()} mass email cannot be changed; only "
                    "Draft and Pending ones can (duplicate it to send it again).",
                )
            return super().update(request, *args, **kwargs)

    def perform_destroy(self, instance: MassEmail) -> None:
        deleted = MassEmail.objects.filter(pk=instance.pk).exclude(status=Status.IN_PROCESS)
        if not deleted.exists():
            raise Problem(
                "invalid_transition", "The mass email is being sent: pause or cancel it first."
            )
        instance.delete()

    @extend_schema(request=shapes.ScheduleSerializer, responses=shapes.MassEmailSerializer)
    @_transition()
    def schedule(self, request: Request, pk=None) -> Response:
        """Draft (or Pending) → Pending: it goes out from `start_at` (absent: now)."""
        mass_email = self.get_object()
        data = shapes.ScheduleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            sending.schedule(mass_email, data.validated_data.get("start_at"))
        except sending.ScheduleRefused as exc:
            raise Problem("invalid_transition", str(exc)) from exc
        except ValidationError as exc:
            raise Problem("invalid_fields", errors=_errors(exc)) from exc
        return self._current(mass_email)

    @extend_schema(request=None, responses=shapes.MassEmailSerializer)
    @_transition()
    def unschedule(self, request: Request, pk=None) -> Response:
        """Pending → Draft."""
        mass_email = self.get_object()
        try:
            sending.unschedule(mass_email)
        except sending.ScheduleRefused as exc:
            raise Problem("invalid_transition", str(exc)) from exc
        return self._current(mass_email)

    @extend_schema(request=None, responses=shapes.MassEmailSerializer)
    @_transition()
    def pause(self, request: Request, pk=None) -> Response:
        """Pending or In Process → Paused (a run sending finishes its current chunk)."""
        return self._control("pause", "Only a Pending or In Process mass email can be paused.")

    @extend_schema(request=None, responses=shapes.MassEmailSerializer)
    @_transition()
    def resume(self, request: Request, pk=None) -> Response:
        """Paused → In Process (if queued) or Pending."""
        return self._control("resume", "Only a Paused mass email can be resumed.")

    @extend_schema(request=None, responses=shapes.MassEmailSerializer)
    @_transition()
    def cancel(self, request: Request, pk=None) -> Response:
        """Draft, Pending, In Process or Paused → Canceled, for good."""
        return self._control("cancel", "A Complete, Canceled or Failed mass email stays so.")

    @extend_schema(request=None, responses=shapes.MassEmailSerializer)
    @_transition(url_path="send-now")
    def send_now(self, request: Request, pk=None) -> Response:
        """Run the sending job now for a due Pending or In Process mass email."""
        mass_email = self.get_object()
        try:
            sending.send_now(mass_email)
        except sending.SendNowRefused as exc:
            raise Problem("invalid_transition", str(exc)) from exc
        return self._current(mass_email)

    @extend_schema(request=shapes.TestSendSerializer, responses=shapes.TestSendResultSerializer)
    @_transition(url_path="test")
    def test(self, request: Request, pk=None) -> Response:
        """Send it now to addresses and people (at most 50 each), as a test."""
        mass_email = self.get_object()
        if not mass_email.is_editable:
            raise Problem("invalid_transition", "Tests are sent from Draft or Pending mass emails.")
        data = shapes.TestSendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        people = _test_people(data.validated_data.get("people", []))
        try:
            results = sending.send_test(
                mass_email, people=people, addresses=data.validated_data.get("emails", [])
            )
        except sending.TestSendError as exc:
            errors = {"non_field_errors": [str(exc)]}
            raise Problem("invalid_fields", str(exc), errors=errors) from exc
        rows = [{"recipient": r.recipient, "sent": r.sent, "error": r.error} for r in results]
        return Response({"results": rows})

    @extend_schema(responses=shapes.RecipientCountSerializer)
    @api_action(
        detail=True, methods=["get"], scope=CAMPAIGNS_READ, permissions=["campaigns.view_massemail"]
    )
    def recipients(self, request: Request, pk=None) -> Response:
        """Who would receive it if its queue were built now, and who is left out, why."""
        count = sending.count_recipients(self.get_object())
        fields = {name: getattr(count, name) for name in count.__dataclass_fields__}
        return Response({**fields, "left_out": count.left_out, "total": count.total})

    @extend_schema(responses=shapes.ProgressSerializer)
    @api_action(
        detail=True, methods=["get"], scope=CAMPAIGNS_READ, permissions=["campaigns.view_massemail"]
    )
    def progress(self, request: Request, pk=None) -> Response:
        """How far sending has got: queue items by status, and the domains deferring it."""
        found = sending.progress(self.get_object())
        counts = {name: getattr(found, name) for name in ("total", "sent", "pending", "deferred")}
        domains = [row.domain for row in found.deferring_domains]
        return Response({**counts, "failed": found.failed, "deferring_domains": domains})

    @extend_schema(request=None, responses={201: shapes.MassEmailSerializer})
    @api_action(
        detail=True,
        methods=["post"],
        scope=CAMPAIGNS_WRITE,
        permissions=["campaigns.add_massemail", "campaigns.view_massemail"],
    )
    def duplicate(self, request: Request, pk=None) -> Response:
        """A new Draft copy: same template, sender, lists and options; no queue."""
        copy = sending.duplicate_mass_email(self.get_object(), user=request.user)
        return self._current(copy, status.HTTP_201_CREATED)

    def _control(self, name: str, refusal: str) -> Response:
        mass_email = self.get_object()
        if mass_email.automated:
            raise Problem(
                "invalid_transition",
                "An automation step's email is paused and restarted with its automation "
                "(the automation's Pause and Activate).",
            )
        if not sending.CONTROLS[name](MassEmail.objects.filter(pk=mass_email.pk)):
            mass_email.refresh_from_db()
            raise Problem(
                "invalid_transition",
                f"{refusal} This one is {mass_email.get_status_display()}.",
            )
        return self._current(mass_email)

    def _current(self, mass_email: MassEmail, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=mass_email.pk)
        return Response(shapes.MassEmailSerializer(fresh).data, status=code)
