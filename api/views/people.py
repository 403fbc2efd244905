"""Accounts, contacts and leads: read, create, change, delete, and upsert by email or
external id (crm.upsert). A record is addressed by its id, by `email:<address>` (the oldest
record of the kind with it) or by `external:<id>`."""

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from api import query
from api.problems import Problem
from api.scopes import PEOPLE_READ, PEOPLE_WRITE
from api.serializers.people import SERIALIZERS
from api.views.base import ApiViewSet, api_action
from crm import person_events, upsert
from crm.models import Account, Contact, Lead
from crm.models.people import normalize_address
from targetlists.models import TargetListEntry

REF = OpenApiParameter(
    "ref",
    str,
    OpenApiParameter.PATH,
    description="The record's id, `email:<address>` (the oldest record with it) or "
    "`external:<external_id>` (an external id with a `/` is found with the list's "
    "`external_id` filter).",
    pattern=r"^([0-9]+|email:.{1,254}|external:.{1,255})$",
)
FILTERS = [
    query.parameter("email", "text", "Records with this address (any case)."),
    query.parameter("external_id", "text", "The record with this external id."),
    query.parameter(
        "updated_since",
        "datetime",
        "Records changed at or after this time, in the order they changed (for syncing).",
    ),
    query.parameter("list", "id", "Members of this target list."),
]


def _wish(data: dict, request: Request) -> upsert.Consent:
    return upsert.Consent(
        opted_out=data.get("opted_out"),
        resubscribe=data.get("resubscribe", False),
        text=data.get("consent_text", ""),
        source=_source(request),
    )


def _source(request: Request) -> str:
    key = request.auth
    return f"API key {key.name} ({key.prefix})" if hasattr(key, "prefix") else "API"


def _values(model, data: dict) -> dict:
    return {name: data[name] for name in upsert.FIELDS[model] if name in data}


def _upsert_permissions(view) -> list[str]:
    name = view.model._meta.model_name
    return [f"crm.add_{name}", f"crm.change_{name}"]


class PersonViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ApiViewSet
):
    model = Contact
    lookup_url_kwarg = "ref"
    lookup_value_regex = "[^/]+"

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        name = f"crm.%s_{cls.model._meta.model_name}"
        cls.scopes = {"GET": PEOPLE_READ} | {
            method: PEOPLE_WRITE for method in ("POST", "PATCH", "DELETE")
        }
        cls.permissions = {
            "GET": [name % "view"],
            "POST": [name % "add"],
            "PATCH": [name % "change"],
            "DELETE": [name % "delete"],
        }

    def perform_destroy(self, instance) -> None:
        with transaction.atomic():
            person_events.deleted([instance], via="api")
            instance.delete()

    def get_serializer_class(self):
        return SERIALIZERS[self.model]["read"]

    def get_queryset(self) -> QuerySet:
        people = self.model.objects.select_related("email_address")
        if getattr(self, "swagger_fake_view", False) or self.action != "list":
            return people
        return self._filtered(people)

    def _filtered(self, people: QuerySet) -> QuerySet:
        email = query.text(self.request, "email")
        if email:
            people = people.filter(email_address__address_lower=normalize_address(email))
        external_id = query.text(self.request, "external_id")
        if external_id:
            people = people.filter(external_id=external_id)
        since = query.moment(self.request, "updated_since")
        if since:
            people = people.filter(updated_at__gte=since)
            self.cursor_ordering = ("updated_at", "id")
        target_list = query.integer(self.request, "list")
        if target_list:
            field = self.model._meta.model_name
            entries = TargetListEntry.objects.filter(
                target_list_id=target_list, **{field: OuterRef("pk")}
            )
            people = people.filter(Exists(entries))
        return people

    def get_object(self):
        ref = self.kwargs["ref"]
        people = self.get_queryset()
        if ref.isascii() and ref.isdigit() and 0 < int(ref) <= query.LARGEST_ID:
            found = people.filter(pk=int(ref)).first()
        elif ref.startswith("email:") and 0 < len(ref) - 6 <= 254:
            address = normalize_address(ref.removeprefix("email:"))
            found = people.filter(email_address__address_lower=address).order_by("pk").first()
        elif ref.startswith("external:") and 0 < len(ref) - 9 <= 255:
            found = people.filter(external_id=ref.removeprefix("external:")).first()
        else:
            found = None
        if found is None:
            raise Http404
        return found

    def _answer(self, person, status_code: int = status.HTTP_200_OK) -> Response:
        person = self.model.objects.select_related("email_address").get(pk=person.pk)
        return Response(self.get_serializer(person).data, status=status_code)

    def _write(self, kind: str, partial: bool = False) -> dict:
        serializer = SERIALIZERS[self.model][kind](data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def create(self, request: Request) -> Response:
        data = self._write("write")
        try:
            person = upsert.create_person(
                self.model,
                email=data.get("email", ""),
                external_id=data.get("external_id") or None,
                values=_values(self.model, data),
                wish=_wish(data, request),
            )
        except upsert.UpsertRefused as exc:
            raise Problem(exc.code, str(exc), errors=exc.errors) from exc
        return self._answer(person, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, ref=None) -> Response:
        person = self.get_object()
        data = self._write("write", partial=True)
        values = _values(self.model, data)
        if "external_id" in data:
            values["external_id"] = data["external_id"] or None
        try:
            upsert.change_person(
                person, values=values, email=data.get("email"), wish=_wish(data, request)
            )
        except upsert.UpsertRefused as exc:
            raise Problem(exc.code, str(exc), errors=exc.errors) from exc
        return self._answer(person)

    @api_action(detail=False, methods=["post"], scope=PEOPLE_WRITE, permissions=_upsert_permissions)
    def upsert(self, request: Request) -> Response:
        """Create or update by `email` or `external_id` (see docs/api.md, People)."""
        data = self._write("upsert")
        try:
            done = upsert.upsert(
                self.model,
                email=data.get("email", ""),
                external_id=data.get("external_id") or None,
                values=_values(self.model, data),
                merge=data["merge"],
                wish=_wish(data, request),
            )
        except upsert.UpsertRefused as exc:
            raise Problem(exc.code, str(exc), errors=exc.errors) from exc
        return self._answer(done.person, status.HTTP_201_CREATED if done.created else 200)


def _documented(model) -> type[PersonViewSet]:
    """The viewset of one kind, with its schema: serializers, `ref`, the list's filters."""
    kinds = SERIALIZERS[model]
    read = kinds["read"]
    view = type(f"{model.__name__}ViewSet", (PersonViewSet,), {"model": model})
    return extend_schema_view(
        list=extend_schema(parameters=FILTERS),
        retrieve=extend_schema(parameters=[REF]),
        destroy=extend_schema(parameters=[REF]),
        create=extend_schema(request=kinds["write"], responses={201: read}),
        partial_update=extend_schema(parameters=[REF], request=kinds["write"], responses=read),
        upsert=extend_schema(
            request=kinds["upsert"],
            responses={200: read, 201: read},
            description="Create or update one record by `email` or `external_id`: 201 when "
            "it was created, 200 when it existed. Merges as `merge` says (docs/api.md).",
        ),
    )(extend_schema(tags=[str(model._meta.verbose_name_plural)])(view))


ContactViewSet = _documented(Contact)
LeadViewSet = _documented(Lead)
AccountViewSet = _documented(Account)
