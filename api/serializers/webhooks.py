"""Webhook endpoints, their deliveries and attempts."""

from rest_framework import serializers

from api.serializers.base import CheckedModelSerializer
from campaigns.models import Campaign
from targetlists.models import TargetList
from webhooks.endpoints import MAX_BATCH, SUBSCRIBABLE
from webhooks.models import Attempt, Delivery, Endpoint


class EndpointSerializer(CheckedModelSerializer):
    url = serializers.URLField(max_length=2000, help_text="https (http only where allowed).")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE),
        required=False,
        help_text="Event types to receive; empty or left out: every type.",
    )
    target_lists = serializers.PrimaryKeyRelatedField(
        queryset=TargetList.objects.all(),
        many=True,
        required=False,
        help_text="Only events about these lists.",
    )
    campaigns = serializers.PrimaryKeyRelatedField(
        queryset=Campaign.objects.all(),
        many=True,
        required=False,
        help_text="Only events of these campaigns.",
    )
    batch_size = serializers.IntegerField(
        min_value=1,
        max_value=MAX_BATCH,
        required=False,
        help_text="Above 1, email events go out up to this many per delivery (type `batch`).",
    )

    class Meta:
        model = Endpoint
        fields = (
            "id",
            "url",
            "description",
            "events",
            "target_lists",
            "campaigns",
            "batch_size",
            "enabled",
            "disabled_reason",
            "disabled_at",
            "created_at",
        )
        read_only_fields = ("disabled_reason", "disabled_at", "created_at")

    def clean_exclude(self) -> tuple[str, ...]:
        return ("secret_encrypted",)  # made by webhooks.endpoints.create


class CreatedEndpointSerializer(EndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="whsec_…: shown only in this answer. Verify deliveries with it."
    )

    class Meta(EndpointSerializer.Meta):
        fields = (*EndpointSerializer.Meta.fields, "secret")


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(
        read_only=True, help_text="The new whsec_… secret; the old one signs too for 24 hours."
    )


class AttemptSerializer(serializers.ModelSerializer):
    message_id = serializers.CharField(source="delivery.message_id", read_only=True)
    event_type = serializers.CharField(source="delivery.event_type", read_only=True)

    class Meta:
        model = Attempt
        fields = (
            "id",
            "message_id",
            "event_type",
            "at",
            "status_code",
            "duration_ms",
            "response",
            "error",
            "succeeded",
        )


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = (
            "id",
            "message_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "delivered_at",
        )


class WebhookTestResultSerializer(serializers.Serializer):
    delivered = serializers.BooleanField(help_text="The endpoint answered 2xx.")
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    delivery = DeliverySerializer()


class RedeliverSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Failed deliveries created since then go again.")


class RedeliveredSerializer(serializers.Serializer):
    redelivered = serializers.IntegerField()
