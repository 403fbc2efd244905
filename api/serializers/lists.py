"""Target lists, their members, and bulk membership calls."""

from rest_framework import serializers

from api.serializers.base import CheckedModelSerializer
from targetlists.membership import MAX_ITEMS, MODELS, Result
from targetlists.models import TargetList, TargetListCategory, TargetListEntry


class TargetListSerializer(CheckedModelSerializer):
    category = serializers.PrimaryKeyRelatedField(
        queryset=TargetListCategory.objects.all(), allow_null=True, required=False
    )
    entries = serializers.IntegerField(
        source="entry_count", read_only=True, help_text="Members, opted out included."
    )
    opted_out = serializers.IntegerField(
        source="opted_out_count", read_only=True, help_text="Members opted out."
    )

    class Meta:
        model = TargetList
        fields = ("id", "name", "description", "category", "created_at", "entries", "opted_out")
        read_only_fields = ("created_at",)


class MemberSerializer(serializers.ModelSerializer):
    type = serializers.SerializerMethodField()
    person_id = serializers.SerializerMethodField()
    email = serializers.SerializerMethodField()

    class Meta:
        model = TargetListEntry
        fields = ("id", "type", "person_id", "email", "opted_out", "added_at")

    def get_type(self, entry: TargetListEntry) -> str:
        return entry.target_type

    def get_person_id(self, entry: TargetListEntry) -> int | None:
        return getattr(entry, f"{entry.target_type}_id", None) if entry.target_type else None

    def get_email(self, entry: TargetListEntry) -> str:
        target = entry.target
        return getattr(target, "email", "") or ""


class MembersRequestSerializer(serializers.Serializer):
    """For the schema: the body is read by api.views.lists.selection (fast for 100,000)."""

    emails = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        max_length=MAX_ITEMS,
        help_text="Addresses; each finds every record of `type` with it. Or give `ids`.",
    )
    ids = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        max_length=MAX_ITEMS,
        help_text="Record ids of `type`. Or give `emails`.",
    )
    type = serializers.ChoiceField(choices=sorted(MODELS), default="contact")


class AddMembersRequestSerializer(MembersRequestSerializer):
    resubscribe = serializers.BooleanField(
        default=False,
        help_text="Lift the opt-out of entries opted out of the list (needs consent_text).",
    )
    consent_text = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="What the people agreed to; kept as a consent record for each one.",
    )


class ItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    value = serializers.JSONField(help_text="The item as given.")
    result = serializers.ChoiceField(choices=[str(result) for result in Result])
    ids = serializers.ListField(child=serializers.IntegerField())
    error = serializers.CharField(allow_blank=True)


class MembershipResultSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    results = ItemResultSerializer(many=True)
