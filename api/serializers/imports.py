"""CSV imports through the API: the upload (multipart), the import as it runs."""

import json

from rest_framework import serializers
from rest_framework.reverse import reverse

from api.serializers.base import JsonTypes
from people.models import PeopleImport
from targetlists.models import TargetList


class ImportUploadSerializer(JsonTypes, serializers.Serializer):
    file = serializers.FileField(help_text="The CSV file (any encoding and delimiter).")
    kind = serializers.ChoiceField(choices=PeopleImport.Kind.values, default="contact")
    purpose = serializers.ChoiceField(
        choices=PeopleImport.Purpose.values,
        default="people",
        help_text="people: import records; opt_out or invalid: a suppression list that flags "
        "its addresses.",
    )
    duplicates = serializers.ChoiceField(
        choices=PeopleImport.Duplicates.values,
        default="skip",
        help_text="Records that exist (same address): skip, update (fill empty fields), overwrite.",
    )
    target_list = serializers.PrimaryKeyRelatedField(
        queryset=TargetList.objects.all(), required=False, allow_null=True
    )
    new_list_name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    consent_text = serializers.CharField(required=False, allow_blank=True)
    mapping = serializers.CharField(
        required=False,
        help_text='A JSON list: the field of each column in order ("" to skip one), e.g. '
        '["email", "first_name", ""]. Absent: guessed from the header (or the mapping '
        "last used for that header).",
    )
    start = serializers.BooleanField(
        default=True, help_text="Start at once (202); false: keep it as a draft (201)."
    )

    def validate_mapping(self, value: str) -> list[str]:
        try:
            mapping = json.loads(value)
        except ValueError as exc:
            raise serializers.ValidationError("Not a JSON list.") from exc
        if not isinstance(mapping, list) or not all(isinstance(name, str) for name in mapping):
            raise serializers.ValidationError("A JSON list of field names.")
        return mapping


class ImportStartSerializer(JsonTypes, serializers.Serializer):
    mapping = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=50),
        required=False,
        max_length=1000,
        help_text="The field of each column; absent: the import's own.",
    )


class ImportSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(allow_null=True, read_only=True)
    rejected_url = serializers.SerializerMethodField()
    header = serializers.ListField(child=serializers.CharField(allow_blank=True), read_only=True)
    mapping = serializers.ListField(child=serializers.CharField(allow_blank=True), read_only=True)

    class Meta:
        model = PeopleImport
        fields = (
            "id",
            "original_name",
            "kind",
            "purpose",
            "duplicates",
            "target_list",
            "status",
            "header",
            "mapping",
            "progress_percent",
            "rows",
            "created",
            "updated",
            "skipped",
            "rejected",
            "error",
            "rejected_url",
            "created_at",
            "started_at",
            "finished_at",
            "undone_at",
        )
        read_only_fields = fields

    def get_rejected_url(self, row: PeopleImport) -> str | None:
        if not row.rejected_file:
            return None
        return reverse("api:import-rejected", args=[row.pk], request=self.context.get("request"))
