"""Is an address usable? The product's one rule (crm.addresses), with a word for an empty cell.

crm.addresses accepts what SMTP can carry (UTF-8 local parts, IDNA domains, 254 characters)
and names the problem otherwise; an import shows that sentence in its rejected-rows file.
"""

from django.utils.translation import gettext as _

from crm import addresses


def address_problem(address: str) -> str:
    """Why `address` cannot receive mail, in words for the marketer; '' when it is fine."""
    if not address:
        return _("no email address")
    return addresses.problem(address)
