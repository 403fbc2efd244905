"""A copy of a sent message, kept when the mass email has "store sent emails" on."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models.mass_email import EmailQueueItem


class SentEmail(models.Model):
    queue_item = models.OneToOneField(
        EmailQueueItem,
        verbose_name=_("queue item"),
        on_delete=models.CASCADE,
        related_name="sent_email",
    )
    # The message as it went over SMTP (RFC 5322 text); bytes that are not UTF-8 are replaced.
    data = models.TextField(_("message"))
    created_at = models.DateTimeField(_("stored at"), auto_now_add=True)

    class Meta:
        verbose_name = _("sent email")
        verbose_name_plural = _("sent emails")

    def __str__(self) -> str:
        return str(self.queue_item)
