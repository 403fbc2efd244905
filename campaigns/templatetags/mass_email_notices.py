"""Template tags for the mass email page's notices."""

from django import template

from campaigns.results.statistics import blocked_bursts

register = template.Library()


@register.simple_tag
def blocked_notice(mass_email) -> list:
    """The domains that blocked the mass email's messages lately (campaigns.results.statistics)."""
    if mass_email is None or not getattr(mass_email, "pk", None):
        return []
    return blocked_bursts(mass_email)
