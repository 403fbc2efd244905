"""What the serializers share: JSON types checked as the schema states them (a number where a
text is expected is refused, not turned into "12"), and, for models, the model's own checks
(clean()) on every write, so the API refuses what the admin's forms refuse, in their words."""

import copy

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from rest_framework import serializers

TEXTUAL = (
    serializers.CharField,
    serializers.ChoiceField,
    serializers.DateTimeField,
    serializers.DateField,
    serializers.DecimalField,
    serializers.FileField,
)


def json_type(field: serializers.Field):
    """The JSON type(s) a field takes, as its schema says; None: any."""
    if isinstance(field, (serializers.ListField, serializers.ManyRelatedField)):
        return list
    if isinstance(field, serializers.ListSerializer):
        return list
    if isinstance(field, serializers.BooleanField):
        return bool
    if isinstance(field, (serializers.IntegerField, serializers.PrimaryKeyRelatedField)):
        return int
    if isinstance(field, serializers.FloatField):
        return (int, float)
    if isinstance(field, TEXTUAL):
        return str
    if isinstance(field, serializers.Serializer):
        return dict
    return None


def _wrong(value, expected) -> bool:
    if expected is None:
        return False
    if isinstance(value, bool) and expected is not bool:
        return True
    return not isinstance(value, expected)


def _items(field: serializers.Field):
    if isinstance(field, serializers.ListField):
        return json_type(field.child)
    if isinstance(field, serializers.ManyRelatedField):
        return int
    return None


def type_errors(fields: dict, data: dict) -> dict[str, list[str]]:
    """Fields of `data` whose JSON type is not the one their serializer field takes."""
    errors = {}
    for name, field in fields.items():
        if field.read_only or name not in data:
            continue
        value = data[name]
        if value is None and field.allow_null:
            continue
        expected = json_type(field)
        if _wrong(value, expected):
            errors[name] = [f"Expected {_named(expected)}."]
        elif expected is list and any(_wrong(item, _items(field)) for item in value):
            errors[name] = [f"Expected a list of {_named(_items(field))}s."]
        elif expected is str and len(value) > (getattr(field, "max_length", None) or len(value)):
            # Before DRF trims the text: the schema's maxLength counts what was sent.
            errors[name] = [f"At most {field.max_length} characters."]
    return errors


def _named(expected) -> str:
    names = {str: "a text", int: "a whole number", bool: "true or false", list: "a list"}
    return names.get(expected, "an object" if expected is dict else "a number")


class JsonTypes:
    """Refuse values of another JSON type than the field's before DRF converts them."""

    def to_internal_value(self, data):
        if isinstance(data, dict) and not hasattr(data, "getlist"):
            errors = type_errors(self.fields, data)
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class CheckedModelSerializer(JsonTypes, serializers.ModelSerializer):
    """A ModelSerializer whose validate() runs the model's full_clean() on the result."""

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        model = self.Meta.model
        candidate = copy.copy(self.instance) if self.instance is not None else model()
        many = set()
        for name, value in attrs.items():
            field = model._meta.get_field(name)
            if isinstance(field, models.ManyToManyField):
                many.add(name)
            else:
                setattr(candidate, field.attname if field.is_relation else name, _pk(value))
        excluded = [f.name for f in model._meta.many_to_many] + list(self.clean_exclude())
        try:
            candidate.full_clean(exclude=excluded, validate_unique=False)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(_errors(exc)) from exc
        return attrs

    def clean_exclude(self) -> tuple[str, ...]:
        """Fields full_clean() must not check (set by the view, not the caller)."""
        return ()


def _pk(value):
    return value.pk if isinstance(value, models.Model) else value


def _errors(exc: DjangoValidationError) -> dict:
    if not hasattr(exc, "error_dict"):
        return {"non_field_errors": exc.messages}
    return {
        ("non_field_errors" if name == NON_FIELD_ERRORS else name): messages
        for name, messages in exc.message_dict.items()
    }
