"""API keys, the answers kept for Idempotency-Key, rate buckets, and bulk jobs."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ApiKey(models.Model):
    """A key for `Authorization: Bearer <key>`: stored as a SHA-256 hash, shown by prefix.

    It acts as its user, limited to its scopes: it can never do more than the user's groups
    allow. The key itself is shown once, when it is made (api.keys.create_key)."""

    name = models.CharField(_("name"), max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acts as user"),
        on_delete=models.CASCADE,
        related_name="api_keys",
    )
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    expires_at = models.DateTimeField(
        _("expires at"), null=True, blank=True, help_text=_("Empty: the key never expires.")
    )
    rate_per_minute = models.PositiveIntegerField(
        _("requests per minute"),
        null=True,
        blank=True,
        help_text=_("Empty: the API_RATE_PER_MINUTE setting (600 by default)."),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Untick to revoke the key at once.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class IdempotentRequest(models.Model):
    """A POST sent with an Idempotency-Key: its owner, the request's hash and, once done, the
    answer, replayed for the same key and body within API_IDEMPOTENCY_HOURS."""

    owner = models.CharField(max_length=40)  # "key:<id>" or "user:<id>"
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.PositiveSmallIntegerField(null=True)  # None while the first is at work
    content_type = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=dict)
    body = models.BinaryField(default=b"")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotent_request_once")
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"


class RateBucket(models.Model):
    """A key's token bucket, when no Redis is configured (api.rate_limit)."""

    name = models.CharField(max_length=64, primary_key=True)
    tokens = models.FloatField()
    at = models.FloatField()  # time.time() of the last refill

    def __str__(self) -> str:
        return self.name


class Job(models.Model):
    """A bulk call answered 202: its input until it has run, its status, and its per-item
    results (JobResults, a page of them per row). Run by the Celery task api.tasks.run_job."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    operation = models.CharField(max_length=40)
    target_list = models.ForeignKey(
        "targetlists.TargetList", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    parameters = models.JSONField(default=dict)
    items = models.JSONField(default=list)  # emptied once the results are stored
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API job")
        verbose_name_plural = _("API jobs")
        indexes = [models.Index(fields=["status", "started_at"])]

    def __str__(self) -> str:
        return f"{self.operation} #{self.pk}"


class JobResults(models.Model):
    """RESULTS_PER_ROW item results of a job, from item `first` on: [value, result, ids, error]."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="result_rows")
    first = models.PositiveIntegerField()
    results = models.JSONField(default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "first"], name="job_results_once")]

    def __str__(self) -> str:
        return f"{self.job_id} from {self.first}"
