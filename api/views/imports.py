"""CSV imports through the API, run as the admin's (people.imports): upload, start, follow,
read the rejected rows, undo."""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.parsers import JsonParser, UploadParser
from api.problems import Problem
from api.scopes import PEOPLE_READ, PEOPLE_WRITE
from api.serializers.imports import ImportSerializer, ImportStartSerializer, ImportUploadSerializer
from api.views.base import ApiViewSet, api_action
from people import import_undo, imports
from people.csv_files import UnreadableFile
from people.models import PeopleImport

ADD = ["people.add_peopleimport"]


@extend_schema(tags=["imports"])
class ImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = ImportSerializer
    queryset = PeopleImport.objects.all()
    parser_classes = (UploadParser, JsonParser)
    scopes = {"GET": PEOPLE_READ, "POST": PEOPLE_WRITE}
    permissions = {"GET": ["people.view_peopleimport"], "POST": ADD}

    @extend_schema(
        request={"multipart/form-data": ImportUploadSerializer},
        responses={
            201: OpenApiResponse(ImportSerializer, description="Kept as a draft (start=false)."),
            202: OpenApiResponse(ImportSerializer, description="Queued: a worker imports it."),
        },
    )
    def create(self, request: Request) -> Response:
        data = ImportUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        options = data.validated_data
        try:
            draft = imports.upload(
                options["file"],
                kind=options["kind"],
                purpose=options["purpose"],
                duplicates=options["duplicates"],
                user=request.user,
                target_list=options.get("target_list"),
                new_list_name=options.get("new_list_name", "").strip(),
                consent_text=options.get("consent_text", "").strip(),
            )
        except UnreadableFile as exc:
            errors = {"file": [f"Not readable as CSV: {exc}"]}
            raise Problem("invalid_fields", errors=errors) from exc
        if not options["start"]:
            return self._answer(draft, status.HTTP_201_CREATED)
        mapping = options.get("mapping", draft.mapping)
        problems = imports.check_problems(draft, mapping)
        if problems:
            header, guessed = draft.header, draft.mapping
            imports.delete_import(draft)
            detail = f"Nothing was imported. The file's columns: {header}; guessed: {guessed}."
            raise Problem("invalid_fields", detail, errors={"mapping": problems})
        imports.start(draft, mapping)
        return self._answer(draft, status.HTTP_202_ACCEPTED)

    @extend_schema(request=ImportStartSerializer, responses={202: ImportSerializer})
    @api_action(detail=True, methods=["post"], scope=PEOPLE_WRITE, permissions=ADD)
    def start(self, request: Request, pk=None) -> Response:
        """Start a draft import, with its own mapping or the one given."""
        draft = self.get_object()
        data = ImportStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            imports.start(draft, data.validated_data.get("mapping", draft.mapping))
        except imports.CannotStart as exc:
            if draft.status != PeopleImport.Status.DRAFT:
                raise Problem("invalid_transition", str(exc)) from exc
            raise Problem("invalid_fields", str(exc), errors={"mapping": [str(exc)]}) from exc
        return self._answer(draft, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: ImportSerializer})
    @api_action(detail=True, methods=["post"], scope=PEOPLE_WRITE, permissions=ADD)
    def undo(self, request: Request, pk=None) -> Response:
        """Undo a finished import: remove what it added, give back what it changed."""
        row = self.get_object()
        try:
            import_undo.request_undo(row)
        except import_undo.CannotUndo as exc:
            raise Problem("invalid_transition", str(exc)) from exc
        return self._answer(row, status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.BINARY})
    @api_action(
        detail=True, methods=["get"], scope=PEOPLE_READ, permissions=["people.view_peopleimport"]
    )
    def rejected(self, request: Request, pk=None):
        """The rows that were not imported, each with its reason, as CSV."""
        row = self.get_object()
        if not row.rejected_file:
            raise Problem("not_found", "This import rejected no row (or has not run).")
        name = row.rejected_file.name.rsplit("/", 1)[-1]
        return FileResponse(
            row.rejected_file.open("rb"), as_attachment=True, filename=name, content_type="text/csv"
        )

    def _answer(self, row: PeopleImport, code: int) -> Response:
        row.refresh_from_db()
        return Response(ImportSerializer(row, context={"request": self.request}).data, status=code)
