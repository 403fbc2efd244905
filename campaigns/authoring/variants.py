"""A mass email as one of its A/B variants (or as a follow-up with its own subject) sends it.

A variant changes any of subject, preheader, from name and template; whatever it leaves empty is
the mass email's own. `as_sent` returns copies with the changes applied, so rendering compiles
each variant exactly as it compiles a mass email, once per variant and mass email.
"""

import copy


def as_sent(mass_email, variant=None):
    """A copy of `mass_email` whose template (a copy too) carries the variant's changes and the
    mass email's own subject, when set. The originals are left alone."""
    subject = (variant.subject if variant is not None else "") or mass_email.subject
    if variant is None and not subject:
        return mass_email
    sent = copy.copy(mass_email)
    template = copy.copy(
        variant.template if variant and variant.template_id else sent.email_template
    )
    if subject:
        template.subject = subject
    if variant is not None and variant.preheader:
        template.preheader = variant.preheader
    if variant is not None and variant.from_name:
        sent.from_name = variant.from_name
    sent.email_template = template
    return sent


class VariantRenderer:
    """Renders each queue item with its own variant's compiled message (the mass email's when
    the item has none); what campaigns.sending.chunks calls `compiled`."""

    def __init__(self, by_variant: dict):
        self.by_variant = by_variant

    def render(self, item):
        compiled = self.by_variant.get(item.variant_id) or self.by_variant[None]
        return compiled.render(item)
