"""Email templates, campaigns, mass emails and tracking URLs."""

from rest_framework import serializers

from api.serializers.base import CheckedModelSerializer, JsonTypes
from campaigns.models import Campaign, MassEmail, TrackingUrl
from crm.models import EmailAccount, EmailTemplate
from targetlists.models import TargetList


class EmailTemplateSerializer(CheckedModelSerializer):
    class Meta:
        model = EmailTemplate
        fields = (
            "id",
            "name",
            "subject",
            "preheader",
            "body_html",
            "body_text",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("created_at", "updated_at")


class PreviewSerializer(serializers.Serializer):
    person = serializers.CharField(help_text="Whom it was rendered for.")
    subject = serializers.CharField(allow_blank=True)
    preheader = serializers.CharField(allow_blank=True)
    html = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)
    errors = serializers.DictField(
        child=serializers.CharField(), help_text="Placeholder errors by field (that field empty)."
    )


def _lists(**options) -> serializers.PrimaryKeyRelatedField:
    return serializers.PrimaryKeyRelatedField(
        queryset=TargetList.objects.all(), many=True, required=False, **options
    )


class CampaignSerializer(CheckedModelSerializer):
    target_lists = _lists()
    excluding_target_lists = _lists()

    class Meta:
        model = Campaign
        fields = (
            "id",
            "name",
            "status",
            "type",
            "start_date",
            "end_date",
            "budget",
            "description",
            "target_lists",
            "excluding_target_lists",
            "created_at",
        )
        read_only_fields = ("created_at",)


class MassEmailSerializer(CheckedModelSerializer):
    target_lists = _lists()
    excluding_target_lists = _lists()
    smtp_account = serializers.PrimaryKeyRelatedField(
        queryset=EmailAccount.objects.filter(use_smtp=True),
        allow_null=True,
        required=False,
        help_text="A group email account used for sending; null: the system SMTP settings.",
    )

    class Meta:
        model = MassEmail
        fields = (
            "id",
            "campaign",
            "name",
            "status",
            "start_at",
            "email_template",
            "from_address",
            "from_name",
            "reply_to_address",
            "reply_to_name",
            "target_lists",
            "excluding_target_lists",
            "smtp_account",
            "store_sent_emails",
            "opt_out_entirely",
            "track_all_links",
            "utm_tags",
            "utm_source",
            "utm_campaign",
            "web_view_link",
            "failure_reason",
            "created_at",
        )
        read_only_fields = ("status", "failure_reason", "created_at")

    def clean_exclude(self) -> tuple[str, ...]:
        return ("created_by",)


class TrackingUrlSerializer(CheckedModelSerializer):
    code = serializers.CharField(read_only=True, help_text="What to paste into a template.")

    class Meta:
        model = TrackingUrl
        fields = ("id", "campaign", "name", "url", "action", "message", "code")


class ScheduleSerializer(JsonTypes, serializers.Serializer):
    start_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When sending may begin; null or absent: now."
    )


class TestPersonSerializer(JsonTypes, serializers.Serializer):
    type = serializers.ChoiceField(choices=["account", "contact", "lead", "user"])
    id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class TestSendSerializer(JsonTypes, serializers.Serializer):
    emails = serializers.ListField(
        child=serializers.CharField(max_length=320), required=False, max_length=50
    )
    people = TestPersonSerializer(many=True, required=False, max_length=50)


class TestResultSerializer(serializers.Serializer):
    recipient = serializers.CharField()
    sent = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)


class TestSendResultSerializer(serializers.Serializer):
    results = TestResultSerializer(many=True)


class RecipientCountSerializer(serializers.Serializer):
    receives = serializers.IntegerField()
    left_out = serializers.IntegerField()
    total = serializers.IntegerField()
    excluded = serializers.IntegerField(help_text="Used by a record of an excluding list.")
    list_opted_out = serializers.IntegerField(help_text="Opted out of their target list.")
    opted_out = serializers.IntegerField(help_text="Address opted out of all mass email.")
    invalid = serializers.IntegerField(help_text="Address marked invalid (hard bounces).")
    no_address = serializers.IntegerField()
    duplicate = serializers.IntegerField(help_text="Address taken by an earlier entry.")
    already_sent = serializers.IntegerField(help_text="Sent by an earlier build of the queue.")


class ProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    sent = serializers.IntegerField()
    pending = serializers.IntegerField()
    deferred = serializers.IntegerField()
    failed = serializers.IntegerField()
    deferring_domains = serializers.ListField(child=serializers.CharField())
