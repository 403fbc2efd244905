"""What the model serializers share: the model's own checks (clean()) run on every write, so
the API refuses what the admin's forms refuse, with the same words."""

import copy

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from rest_framework import serializers


class CheckedModelSerializer(serializers.ModelSerializer):
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
