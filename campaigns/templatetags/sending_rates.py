"""Template tags for the job runs page: the rate each sending source reaches now."""

from django import template

from campaigns.sending.throughput import source_rates

register = template.Library()


@register.simple_tag
def sending_rates() -> list:
    """The sources that sent in the last minute (campaigns.sending.throughput)."""
    return source_rates()
