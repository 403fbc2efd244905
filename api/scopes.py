"""What an API key may be used for: its scopes, each a family of calls.

A scope only narrows: a call also needs the Django permissions its view names, which the key's
user holds through the groups of crm.groups (Marketing, Administrators) or as a superuser.
"""

from django.utils.translation import gettext_lazy as _

ANY = "any"  # a call any valid key may make (e.g. reading its own key)
PEOPLE_READ = "people:read"
PEOPLE_WRITE = "people:write"
LISTS_READ = "lists:read"
LISTS_WRITE = "lists:write"
CAMPAIGNS_READ = "campaigns:read"
CAMPAIGNS_WRITE = "campaigns:write"
SEND = "send"
RESULTS_READ = "results:read"
SIGNUP = "signup"
WEBHOOKS_MANAGE = "webhooks:manage"

SCOPES = {
    PEOPLE_READ: _("Read accounts, contacts, leads, imports and the suppression list"),
    PEOPLE_WRITE: _("Create, upsert, change and delete people; run imports; suppress addresses"),
    LISTS_READ: _("Read target lists and their members"),
    LISTS_WRITE: _("Create, change and delete target lists; add, remove and opt out members"),
    CAMPAIGNS_READ: _("Read email templates, campaigns, mass emails and tracking URLs"),
    CAMPAIGNS_WRITE: _("Create, change and delete templates, campaigns, mass emails and links"),
    SEND: _("Schedule, pause, resume, cancel and send mass emails now; send tests"),
    RESULTS_READ: _("Read results and the campaign log's events"),
    SIGNUP: _("Submit signup forms (double opt-in) for a website"),
    WEBHOOKS_MANAGE: _("Create, change and test webhook endpoints; read their deliveries"),
}
CHOICES = [(scope, f"{scope}: {label}") for scope, label in SCOPES.items()]


class UnknownScope(ValueError):
    """A scope name that is not one of SCOPES."""


def checked(names) -> list[str]:
    """`names` as a sorted list without repeats; raises UnknownScope naming the unknown ones."""
    unknown = sorted(set(names) - set(SCOPES))
    if unknown:
        raise UnknownScope(", ".join(unknown))
    return sorted(set(names))
