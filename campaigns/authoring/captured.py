"""Marks for the development mail capture (crm.captured_mail): which captured messages are test
sends. Registered in CampaignsConfig.ready, since crm may not import campaigns."""

from email.message import EmailMessage

from django.utils.translation import gettext as _

from campaigns.authoring import tokens
from campaigns.models import EmailQueueItem


def captured_test_mark(headers: EmailMessage) -> str:
    """'Test send' for a captured message (its headers) of a test item; '' otherwise."""
    ids = tokens.read_or_none(tokens.HEADER, str(headers.get("X-Queue-Item-Id", "")).strip())
    if ids is None:
        return ""
    test = EmailQueueItem.objects.filter(pk=ids[0], is_test=True).exists()
    return _("Test send") if test else ""
