"""Accounts, contacts and leads: how they read, and what a create, change or upsert sends."""

from rest_framework import serializers

from api.serializers.base import JsonTypes
from crm.models import Account, Contact, Lead
from crm.upsert import FIELDS, Merge

READ_ONLY = ("id", "email", "opted_out", "invalid", "created_at", "updated_at")


class PersonSerializer(serializers.ModelSerializer):
    """A record as it reads: its fields, its address and the address's flags."""

    email = serializers.SerializerMethodField()
    opted_out = serializers.SerializerMethodField(
        help_text="The address receives no mass email at all."
    )
    invalid = serializers.SerializerMethodField(help_text="The address hard-bounced.")

    def get_email(self, person) -> str:
        return person.email

    def get_opted_out(self, person) -> bool:
        return bool(person.email_address_id and person.email_address.opt_out)

    def get_invalid(self, person) -> bool:
        return bool(person.email_address_id and person.email_address.invalid)


def read_serializer(model):
    meta = type("Meta", (), {"model": model, "fields": (*READ_ONLY, "external_id", *FIELDS[model])})
    return type(f"{model.__name__}Serializer", (PersonSerializer,), {"Meta": meta})


class WriteFields(JsonTypes, serializers.ModelSerializer):
    """What a create, change or upsert may send, besides the record's fields."""

    email = serializers.CharField(
        required=False, allow_blank=True, max_length=320, trim_whitespace=True
    )
    opted_out = serializers.BooleanField(
        required=False,
        help_text="true opts the address out of all mass email. false never lifts an opt-out: "
        "send resubscribe with consent_text.",
    )
    resubscribe = serializers.BooleanField(
        required=False, default=False, help_text="Lift the address's opt-out (needs consent_text)."
    )
    consent_text = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="What the person agreed to, kept as a consent record.",
    )


def write_serializer(model, upsert: bool = False):
    names = ("external_id", *FIELDS[model])
    extra = {name: {"required": False} for name in names}
    extra["external_id"]["validators"] = []  # its uniqueness: a 409 from crm.upsert
    attributes = {
        "Meta": type(
            "Meta",
            (),
            {
                "model": model,
                "fields": ("email", "opted_out", "resubscribe", "consent_text", *names),
                "extra_kwargs": extra,
                "validators": [],
            },
        )
    }
    if upsert:
        attributes["merge"] = serializers.ChoiceField(
            choices=[m.value for m in Merge],
            default=Merge.FILL.value,
            help_text="fill: set the empty fields; overwrite: set every field given; keep: "
            "change nothing on a record that exists.",
        )
        attributes["Meta"].fields = ("merge", *attributes["Meta"].fields)
    prefix = "Upsert" if upsert else "Write"
    return type(f"{prefix}{model.__name__}Serializer", (WriteFields,), attributes)


SERIALIZERS = {
    model: {
        "read": read_serializer(model),
        "write": write_serializer(model),
        "upsert": write_serializer(model, upsert=True),
    }
    for model in (Account, Contact, Lead)
}
