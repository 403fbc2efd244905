"""Model and form fields for email addresses, checked by crm.addresses wherever they enter.

Django's EmailField refuses RFC 6531 UTF-8 local parts (`josé@exämple.com`) and its form field
lets a 306-character address through to the database (DataError). These fields accept what SMTP
can carry and refuse the rest with a sentence naming the problem (too long, no domain, a domain
IDNA cannot write, characters an address cannot have): a form error, never a 500.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils.translation import gettext as _

from crm.addresses import MAX_LENGTH, validate_address


def validate_stored_address(value: str) -> None:
    """validate_address, and at most MAX_LENGTH characters as typed (the column's size)."""
    if len(value) > MAX_LENGTH:
        raise ValidationError(
            _("The address is too long: %(length)s characters, at most %(limit)s.")
            % {"length": len(value), "limit": MAX_LENGTH},
            code="max_length",
        )
    validate_address(value)


class AddressFormField(forms.CharField):
    """A text box for one address: stripped, checked by validate_stored_address.

    A plain text input (type=email would have the browser refuse UTF-8 local parts), with no
    maxlength, so a pasted long address gets the error instead of being cut silently."""

    default_validators = [validate_stored_address]

    def __init__(self, **kwargs) -> None:
        kwargs.pop("max_length", None)
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "email", "size": 40}))
        super().__init__(**kwargs)

    def widget_attrs(self, widget) -> dict:
        return {**super().widget_attrs(widget), "autocomplete": "email", "spellcheck": "false"}


class AddressField(models.CharField):
    """An address column: varchar(254), checked by validate_stored_address on full_clean."""

    default_validators = [validate_stored_address]
    description = "Email address (RFC 5321/6531)"

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", MAX_LENGTH)
        super().__init__(*args, **kwargs)
        # validate_stored_address already says "too long" in the marketer's words.
        self.validators[:] = [v for v in self.validators if not isinstance(v, MaxLengthValidator)]

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_length") == MAX_LENGTH:
            del kwargs["max_length"]
        return name, path, args, kwargs

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": AddressFormField, **kwargs})
