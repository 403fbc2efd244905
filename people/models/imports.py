"""CSV imports of Accounts, Contacts and Leads, and of suppression lists."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from targetlists.models import TargetList


def stalled_before() -> datetime:
    """A running import or undo with no progress since this time is taken as stopped."""
    return timezone.now() - timedelta(seconds=settings.IMPORT_STALLED_SECONDS)


class PeopleImport(models.Model):
    """One uploaded file, its column mapping and options, and what importing it did."""

    class Kind(models.TextChoices):
        CONTACT = "contact", _("Contacts")
        LEAD = "lead", _("Leads")
        ACCOUNT = "account", _("Accounts")

    class Purpose(models.TextChoices):
        PEOPLE = "people", _("Import people")
        OPT_OUT = "opt_out", _("Suppression list: mark the addresses opted out")
        INVALID = "invalid", _("Suppression list: mark the addresses invalid")

    class Duplicates(models.TextChoices):
        SKIP = "skip", _("Skip existing records")
        UPDATE = "update", _("Fill the empty fields of existing records")
        OVERWRITE = "overwrite", _("Overwrite existing records with the file's values")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Mapping columns")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        UNDOING = "undoing", _("Undoing")
        UNDONE = "undone", _("Undone")

    kind = models.CharField(_("records"), max_length=10, choices=Kind, default=Kind.CONTACT)
    purpose = models.CharField(_("purpose"), max_length=10, choices=Purpose, default=Purpose.PEOPLE)
    duplicates = models.CharField(
        _("existing records"), max_length=10, choices=Duplicates, default=Duplicates.SKIP
    )
    target_list = models.ForeignKey(
        TargetList,
        verbose_name=_("target list"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    consent_text = models.TextField(
        _("consent the people gave"),
        blank=True,
        help_text=_(
            "What the people in the file agreed to, where and when (e.g. the signup form of your "
            "previous tool): kept as an opt-in consent record for each person the import adds "
            "to the list. Empty: no consent is recorded."
        ),
    )
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255, blank=True)
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    delimiter = models.CharField(_("delimiter"), max_length=1, blank=True)
    header = models.JSONField(_("header"), default=list)
    mapping = models.JSONField(_("column mapping"), default=list)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.DRAFT)
    total_bytes = models.BigIntegerField(default=0, editable=False)
    read_bytes = models.BigIntegerField(default=0, editable=False)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    rejected_file = models.FileField(_("rejected rows"), upload_to="imports/rejected/", blank=True)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Set by the worker at each batch (or undo step); empty until a worker takes the job up.
    heartbeat_at = models.DateTimeField(_("last progress at"), null=True, blank=True)
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    undo_removed = models.PositiveIntegerField(_("removed by the undo"), default=0)
    undo_restored = models.PositiveIntegerField(_("given back by the undo"), default=0)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.original_name or f"#{self.pk}"

    @property
    def is_suppression(self) -> bool:
        return self.purpose != self.Purpose.PEOPLE

    @property
    def is_stalled(self) -> bool:
        """This import is one of stalled() (the same rule, read off this row)."""
        old = self.heartbeat_at is not None and self.heartbeat_at < stalled_before()
        if self.status == self.Status.RUNNING:
            return old or self.heartbeat_at is None
        return self.status == self.Status.UNDOING and old

    @classmethod
    def stalled(cls) -> Q:
        """Imports and undos whose worker has written nothing for IMPORT_STALLED_SECONDS: it was
        most likely stopped. A running import always has a heartbeat (none: from before they
        were kept); an undo has none until its task takes it up, and is queued, not stalled."""
        old = Q(heartbeat_at__lt=stalled_before())
        running = Q(status=cls.Status.RUNNING) & (old | Q(heartbeat_at__isnull=True))
        return running | (Q(status=cls.Status.UNDOING) & old)

    @property
    def progress_percent(self) -> int | None:
        """How far the import has read its file; None while it is being undone (no measure)."""
        if self.status == self.Status.UNDOING:
            return None
        if self.status in (self.Status.DONE, self.Status.UNDONE):
            return 100
        if not self.total_bytes:
            return 0
        return min(99, int(100 * self.read_bytes / self.total_bytes))


class ImportedBatch(models.Model):
    """What one batch of an import added or changed, kept so the import can be undone: lists
    of ids, one row per batch (20,000 rows of the file), not one row per person."""

    people_import = models.ForeignKey(PeopleImport, on_delete=models.CASCADE, related_name="+")
    # The rows of the file it covered (counted from 1 after the header): written, skipped or
    # rejected. An import taken up again after a stop writes only the rows no batch covers.
    first_row = models.PositiveIntegerField(default=0)
    last_row = models.PositiveIntegerField(default=0)
    # Ids of the records (Contacts, Leads or Accounts) the batch created.
    created = models.JSONField(default=list)
    # Ids of existing records the batch put on the import's target list.
    added = models.JSONField(default=list)
    # Ids of the email addresses it created.
    addresses = models.JSONField(default=list)
    # A suppression list: ids of existing addresses whose flag (opted out, invalid) it set.
    flagged = models.JSONField(default=list)
    # [[id, {field: [before, after]}], …] for the existing records it filled or overwrote.
    changes = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"{self.people_import_id}: batch {self.pk}"


class RememberedMapping(models.Model):
    """The mapping last chosen for a header, offered again for a file with the same header."""

    kind = models.CharField(max_length=12)  # a PeopleImport.Kind, or "suppression"
    header_key = models.CharField(max_length=64)
    mapping = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "header_key"], name="remembered_mapping_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.header_key[:8]}"
