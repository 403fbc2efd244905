"""Mass emails and their queue: one item per recipient."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models.campaign import Campaign
from campaigns.models.tracking_codes import check_codes_of_campaign
from crm.address_fields import AddressField
from crm.models import EmailAccount, EmailAddress, EmailTemplate, TargetFields
from targetlists.models import TargetList


class TestMetric(models.TextChoices):
    CLICKS = "clicks", _("People's clicks per delivered message")
    OPENS = "opens", _("People's opens per delivered message")
    MANUAL = "manual", _("A person chooses")


class TestFallback(models.TextChoices):
    FIRST = "first", _("Send variant A")
    BEST = "best", _("Send the best so far")
    WAIT = "wait", _("Wait for a person to choose")


class TestState(models.TextChoices):
    NONE = "", _("No test")
    TESTING = "testing", _("Testing")
    WAITING = "waiting", _("Waiting for a person to choose")
    DECIDED = "decided", _("Winner chosen")


class MassEmail(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PENDING = "pending", _("Pending")
        IN_PROCESS = "in_process", _("In Process")
        PAUSED = "paused", _("Paused")
        COMPLETE = "complete", _("Complete")
        CANCELED = "canceled", _("Canceled")
        FAILED = "failed", _("Failed")

    EDITABLE_STATUSES = (Status.DRAFT, Status.PENDING)
    TestMetric = TestMetric
    TestFallback = TestFallback
    TestState = TestState

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="mass_emails"
    )
    name = models.CharField(_("name"), max_length=255)
    status = models.CharField(_("status"), max_length=20, choices=Status, default=Status.DRAFT)
    start_at = models.DateTimeField(
        _("start at"), null=True, blank=True, help_text=_("When sending may begin. Empty: now.")
    )
    email_template = models.ForeignKey(
        EmailTemplate, verbose_name=_("email template"), on_delete=models.PROTECT
    )
    from_address = AddressField(_("from address"), blank=True)
    from_name = models.CharField(_("from name"), max_length=255, blank=True)
    reply_to_address = AddressField(_("reply-to address"), blank=True)
    reply_to_name = models.CharField(_("reply-to name"), max_length=255, blank=True)
    target_lists = models.ManyToManyField(
        TargetList, verbose_name=_("target lists"), blank=True, related_name="mass_emails"
    )
    excluding_target_lists = models.ManyToManyField(
        TargetList,
        verbose_name=_("excluding target lists"),
        blank=True,
        related_name="excluding_mass_emails",
    )
    smtp_account = models.ForeignKey(
        EmailAccount,
        verbose_name=_("SMTP account"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        limit_choices_to={"use_smtp": True},
        help_text=_("Empty: the system SMTP settings."),
    )
    store_sent_emails = models.BooleanField(_("store sent emails"), default=False)
    opt_out_entirely = models.BooleanField(
        _("opt out entirely"),
        default=False,
        help_text=_("Unsubscribing opts the address out of all mass email, not only these lists."),
    )
    track_all_links = models.BooleanField(
        _("track all links"),
        default=True,
        help_text=_(
            "Each web link of the template becomes a tracking URL of the campaign when sending "
            "starts, so clicks are counted per link. Links marked data-notrack are left alone; "
            "Informational emails track no links."
        ),
    )
    utm_tags = models.BooleanField(
        _("add UTM tags"),
        default=False,
        help_text=_(
            "Adds utm_source, utm_medium=email and utm_campaign to tracked links "
            "(tags a link already has are kept)."
        ),
    )
    utm_source = models.CharField(
        _("utm_source"), max_length=100, blank=True, help_text=_("Empty: the campaign type.")
    )
    utm_campaign = models.CharField(
        _("utm_campaign"),
        max_length=100,
        blank=True,
        help_text=_("Empty: the campaign name, in lower case with hyphens."),
    )
    web_view_link = models.BooleanField(
        _("“View in browser” line"),
        default=False,
        help_text=_(
            "Adds a link at the top of the HTML to the recipient's own copy on the web "
            "(the template can also place {webViewUrl} itself)."
        ),
    )
    subject = models.CharField(
        _("subject"),
        max_length=255,
        blank=True,
        help_text=_("Empty: the template's subject. A follow-up sets its own."),
    )
    # A/B test (campaigns.abtest): 2 to 5 variants (MassEmailVariant); none: no test.
    test_share = models.PositiveSmallIntegerField(
        _("test share (%)"),
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_(
            "With variants: the share of recipients who get the test, split evenly between "
            "the variants; the others get the winner."
        ),
    )
    test_wait_hours = models.PositiveSmallIntegerField(
        _("wait before choosing (hours)"),
        default=4,
        help_text=_("Counted from when the last test message went out."),
    )
    test_metric = models.CharField(
        _("winner chosen by"), max_length=10, choices=TestMetric, default=TestMetric.CLICKS
    )
    test_confidence = models.PositiveSmallIntegerField(
        _("confidence (%)"),
        default=95,
        validators=[MinValueValidator(50), MaxValueValidator(99)],
        help_text=_("How sure the test must be that the difference is not chance."),
    )
    test_min_sample = models.PositiveIntegerField(
        _("minimum delivered per variant"),
        default=100,
        help_text=_("No winner is declared from fewer delivered messages per variant."),
    )
    test_fallback = models.CharField(
        _("when no variant clearly wins"),
        max_length=10,
        choices=TestFallback,
        default=TestFallback.WAIT,
    )
    test_state = models.CharField(
        _("test"), max_length=10, choices=TestState, blank=True, default="", editable=False
    )
    test_winner = models.ForeignKey(
        "campaigns.MassEmailVariant",
        verbose_name=_("winner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    test_decided_at = models.DateTimeField(_("winner chosen at"), null=True, editable=False)
    test_reasoning = models.TextField(_("why this winner"), blank=True, editable=False)
    follow_up_of = models.ForeignKey(
        "self",
        verbose_name=_("follow-up of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="follow_ups",
        editable=False,
    )
    follow_up_hours = models.PositiveSmallIntegerField(
        _("non-openers after (hours)"), null=True, blank=True, editable=False
    )
    failure_reason = models.TextField(_("failure reason"), blank=True, editable=False)
    # An automation step's mailing (automation.StepMailing): In Process for good, never built
    # from lists; people are queued to it one by one, and each run sends it first.
    automated = models.BooleanField(_("automation step"), default=False, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )

    class Meta:
        verbose_name = _("mass email")
        verbose_name_plural = _("mass emails")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "start_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status in self.EDITABLE_STATUSES

    def clean(self) -> None:
        if self.campaign_id and not self.campaign.allows_mass_email:
            message = _("Mass emails are only for Email, Newsletter and Informational campaigns.")
            raise ValidationError({"campaign": message})
        if self.status == self.Status.PENDING and self.campaign_id and self.email_template_id:
            check_codes_of_campaign(self.email_template, self.campaign)


class EmailQueueItem(TargetFields):
    """One recipient of one mass email. Moves Pending → Sending → Sent | Failed under a claim."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        # Not in an A/B test's share: waits for the winner, then becomes Pending.
        HELD = "held", _("Held for the winner")

    # (mass_email, status) below serves every lookup; a separate FK index would only slow inserts.
    mass_email = models.ForeignKey(
        MassEmail,
        verbose_name=_("mass email"),
        on_delete=models.CASCADE,
        related_name="queue_items",
        db_index=False,
    )
    email_address = models.ForeignKey(
        EmailAddress, verbose_name=_("email address"), null=True, on_delete=models.SET_NULL
    )
    email = AddressField(_("email"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # The A/B variant this recipient gets, decided once when the queue is built. Indexed only
    # where set (queueitem_variant): most items have none, and every index an item is in is
    # written again each time its status changes.
    variant = models.ForeignKey(
        "campaigns.MassEmailVariant",
        verbose_name=_("variant"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="queue_items",
        db_index=False,
    )
    # db_default: rows inserted by SQL of their own (benchmarks, tools) need not name it.
    in_test = models.BooleanField(_("in the A/B test"), default=False, db_default=False)
    is_test = models.BooleanField(_("test"), default=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set when a server deferred the item (4xx, dropped connection): not claimed before then.
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # The ESP's id of the message when it went out through an ESP's API (its webhooks name it).
    # db_default: rows inserted by SQL of their own (automation's send steps) need not name it.
    esp_message_id = models.CharField(
        _("ESP message ID"), max_length=255, blank=True, default="", db_default=""
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("queue item")
        verbose_name_plural = _("queue items")
        ordering = ["id"]
        constraints = [
            TargetFields.one_target_constraint("queueitem_one_target", allow_none=True),
            models.UniqueConstraint(
                fields=["mass_email", "email_address"],
                condition=models.Q(is_test=False),
                name="queueitem_one_per_address",
            ),
        ]
        indexes = [
            *TargetFields.target_indexes("queueitem"),
            models.Index(fields=["mass_email", "status"]),
            models.Index(
                fields=["esp_message_id"],
                condition=~models.Q(esp_message_id=""),
                name="queueitem_esp_message_id",
            ),
            # The hourly window and stale claims look only at the few items in Sending.
            models.Index(
                fields=["claimed_at"],
                condition=models.Q(status="sending"),
                name="queueitem_sending_claims",
            ),
            # Only sent items: those not sent yet would be written into it at every claim.
            models.Index(
                fields=["sent_at"],
                condition=models.Q(is_test=False, sent_at__isnull=False),
                name="queueitem_sent_window",
            ),
            models.Index(
                fields=["variant"],
                condition=models.Q(variant__isnull=False),
                name="queueitem_variant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mass_email} → {self.email or self.email_address}"


class DomainDeferral(models.Model):
    """A recipient domain whose servers defer this mass email's messages (4xx, dropped).

    Made when a run sees DOMAIN_DEFERRALS_PER_RUN deferrals from one domain, so the rest of
    its items wait for a later run; removed when that domain accepts a message again.
    """

    mass_email = models.ForeignKey(
        MassEmail, on_delete=models.CASCADE, related_name="domain_deferrals"
    )
    domain = models.CharField(_("domain"), max_length=255)
    since = models.DateTimeField(_("deferring since"))
    last_deferred_at = models.DateTimeField(_("last deferral"))
    deferrals = models.PositiveIntegerField(_("deferrals"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("deferring domain")
        verbose_name_plural = _("deferring domains")
        ordering = ["since"]
        constraints = [
            models.UniqueConstraint(fields=["mass_email", "domain"], name="deferral_one_per_domain")
        ]

    def __str__(self) -> str:
        return self.domain
