"""The suppression list and signup forms."""

from rest_framework import serializers

from api.serializers.base import JsonTypes
from crm import suppression
from crm.models import EmailAddress
from people.models import SignupForm


class SuppressedSerializer(serializers.ModelSerializer):
    email = serializers.CharField(source="address")
    opted_out = serializers.BooleanField(source="opt_out")

    class Meta:
        model = EmailAddress
        fields = ("id", "email", "opted_out", "invalid", "soft_bounces")


class SuppressRequestSerializer(JsonTypes, serializers.Serializer):
    emails = serializers.ListField(
        child=serializers.CharField(), max_length=suppression.MAX_ITEMS, min_length=1
    )
    reason = serializers.ChoiceField(
        choices=list(suppression.FLAGS),
        default="opted_out",
        help_text="opted_out: no mass email at all; invalid: hard-bounced.",
    )


class LiftRequestSerializer(SuppressRequestSerializer):
    consent_text = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Needed to lift an opt-out: what the person agreed to.",
    )


class SuppressionResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    value = serializers.JSONField()
    result = serializers.ChoiceField(choices=[str(r) for r in suppression.Result])
    error = serializers.CharField(allow_blank=True)


class SuppressionResultsSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    results = SuppressionResultSerializer(many=True)


class SignupFormSerializer(serializers.ModelSerializer):
    class Meta:
        model = SignupForm
        fields = (
            "id",
            "name",
            "key",
            "is_active",
            "campaign",
            "target_lists",
            "double_opt_in",
            "ask_first_name",
            "ask_last_name",
            "ask_company",
        )
        read_only_fields = fields


class SubmissionSerializer(JsonTypes, serializers.Serializer):
    email = serializers.CharField(max_length=320)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    company = serializers.CharField(max_length=255, required=False, allow_blank=True)
    client_ip = serializers.IPAddressField(
        required=False,
        allow_blank=True,
        help_text="The visitor's IP address: counted by the per-client limit, kept only as "
        "a keyed hash in the consent record.",
    )


class SubmissionAnswerSerializer(serializers.Serializer):
    accepted = serializers.BooleanField()
    double_opt_in = serializers.BooleanField(
        help_text="true: a confirmation email is on its way; the person is subscribed once "
        "they confirm."
    )
