"""The campaign log: what happened to each recipient, one row per event."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models.campaign import Campaign, TrackingUrl
from campaigns.models.mass_email import EmailQueueItem
from crm.address_fields import AddressField
from crm.models import EmailAddress, TargetFields

ONCE_PER_ITEM = ("sent", "opened", "opted_out")


class CampaignLogRecord(TargetFields):
    class Action(models.TextChoices):
        SENT = "sent", _("Sent")
        OPENED = "opened", _("Opened")
        CLICKED = "clicked", _("Clicked")
        OPTED_OUT = "opted_out", _("Opted Out")
        BOUNCED = "bounced", _("Bounced")
        OPTED_IN = "opted_in", _("Opted In")
        LEAD_CREATED = "lead_created", _("Lead Created")
        AUTOMATION_EXIT = "automation_exit", _("Left automation")

    class ExitReason(models.TextChoices):
        """Why someone left an automation before its end. The automation's enrolments use
        these (automation.models.Enrolment.Reason); they are here because the log names them
        and campaigns is a floor below automation."""

        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        BOUNCED = "bounced", _("Hard bounce")
        COMPLAINED = "complained", _("Complaint")
        LEFT_LIST = "left_list", _("Left the trigger list")
        GOAL = "goal", _("Reached the goal")
        NO_ADDRESS = "no_address", _("No email address")
        GONE = "gone", _("Person deleted")

    class BounceType(models.TextChoices):
        HARD = "hard", _("Hard")
        SOFT = "soft", _("Soft")
        # The message or the sender was refused (spam, blocklist, DMARC); the address is fine.
        BLOCKED = "blocked", _("Blocked")

    # campaign and email_address lead composite indexes below; a separate FK index each would
    # only add a write to every open and click.
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="log_records",
        db_index=False,
    )
    action = models.CharField(_("action"), max_length=20, choices=Action)
    action_date = models.DateTimeField(_("date"), auto_now_add=True)
    queue_item = models.ForeignKey(
        EmailQueueItem,
        verbose_name=_("queue item"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="log_records",
    )
    # Indexed only where set (logrecord_tracking_url): a click's row; sent, opened and the
    # other rows, most of the log, need no entry.
    tracking_url = models.ForeignKey(
        TrackingUrl,
        verbose_name=_("tracking URL"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
    )
    email_address = models.ForeignKey(
        EmailAddress,
        verbose_name=_("email address"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
    )
    email = AddressField(_("email"), blank=True)
    bounce_type = models.CharField(_("bounce type"), max_length=10, choices=BounceType, blank=True)
    # A bounce's enhanced status code and the server's words, e.g. "5.7.1 … listed on …".
    # db_default: the tracking fast path and buffer insert log rows with SQL of their own.
    bounce_detail = models.CharField(
        _("bounce detail"), max_length=500, blank=True, default="", db_default=""
    )
    # Of a "Left automation" record: why. db_default as bounce_detail's.
    exit_reason = models.CharField(
        _("exit reason"), max_length=16, choices=ExitReason, blank=True, default="", db_default=""
    )
    is_test = models.BooleanField(_("test"), default=False)
    # Of a Clicked record: a click judged a person's has come. A scanner often clicks first;
    # the person's first click is then still told to the stream (email.clicked, human), once.
    # db_default as bounce_detail's.
    person_clicked = models.BooleanField(_("clicked by a person"), default=False, db_default=False)

    class Meta:
        verbose_name = _("campaign log record")
        verbose_name_plural = _("campaign log records")
        ordering = ["-action_date", "-id"]
        constraints = [
            TargetFields.one_target_constraint("logrecord_one_target", allow_none=True),
            models.UniqueConstraint(
                fields=["queue_item", "action"],
                condition=models.Q(action__in=ONCE_PER_ITEM),
                name="logrecord_once_per_item",
            ),
            models.UniqueConstraint(
                fields=["queue_item", "tracking_url"],
                condition=models.Q(action="clicked"),
                name="logrecord_click_once_per_url",
            ),
            # A report read twice, or the same bounce from the mailbox and an ESP's webhook.
            models.UniqueConstraint(
                fields=["queue_item", "bounce_type"],
                condition=models.Q(action="bounced"),
                name="logrecord_bounce_once_per_type",
            ),
        ]
        indexes = [
            *TargetFields.target_indexes("logrecord"),
            models.Index(fields=["campaign", "action", "is_test"]),
            models.Index(fields=["email_address", "action"]),
            models.Index(
                fields=["tracking_url"],
                condition=models.Q(tracking_url__isnull=False),
                name="logrecord_tracking_url",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.email}"
