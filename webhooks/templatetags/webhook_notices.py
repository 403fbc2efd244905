"""The notice an owner sees on the admin's home page when an endpoint of theirs was disabled."""

from django import template

from webhooks.admin import disabled_for, notice

register = template.Library()


@register.simple_tag
def disabled_webhook_notices(user) -> list[str]:
    return [notice(endpoint) for endpoint in disabled_for(user)]
