"""People as the event stream names them: ("contact", 12)."""

from django.contrib.auth import get_user_model

from crm.models import Account, Contact, EmailAddress, Lead

Person = tuple[str, int]


def models_by_type() -> dict:
    return {"account": Account, "contact": Contact, "lead": Lead, "user": get_user_model()}


def load(person_type: str, person_id: int):
    """The person, or None if deleted (or of an unknown kind)."""
    model = models_by_type().get(person_type)
    if model is None:
        return None
    return model.objects.filter(pk=person_id).first()


def address_of(person) -> EmailAddress | None:
    """The person's shared address row (a User's from its email field), or None."""
    if getattr(person, "email_address_id", None):
        return person.email_address
    email = getattr(person, "email", "") if not hasattr(person, "email_address_id") else ""
    return EmailAddress.for_address(email) if email else None


def target_field(person) -> str:
    """'account', 'contact', 'lead' or 'user': the target key that points at `person`."""
    for name, model in models_by_type().items():
        if isinstance(person, model):
            return name
    raise TypeError(f"{type(person).__name__} is not a person")
