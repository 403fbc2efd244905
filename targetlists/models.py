"""Target lists: named sets of Accounts, Contacts, Leads and Users, each entry with an opt-out."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models import TargetFields
from targetlists.report_fields import Entity, describe


class TargetListCategory(models.Model):
    name = models.CharField(_("name"), max_length=255, unique=True)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("target list category")
        verbose_name_plural = _("target list categories")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TargetList(models.Model):
    name = models.CharField(_("name"), max_length=255)
    category = models.ForeignKey(
        TargetListCategory,
        verbose_name=_("category"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="target_lists",
    )
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("target list")
        verbose_name_plural = _("target lists")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TargetListEntry(TargetFields):
    """One person in one list; `opted_out` removes them from mail sent to this list only."""

    target_list = models.ForeignKey(
        TargetList,
        verbose_name=_("target list"),
        on_delete=models.CASCADE,
        related_name="entries",
        db_index=False,  # the (target_list, opted_out) index leads with it
    )
    opted_out = models.BooleanField(_("opted out"), default=False)
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        verbose_name = _("target list entry")
        verbose_name_plural = _("target list entries")
        ordering = ["id"]
        constraints = [
            TargetFields.one_target_constraint("targetlistentry_one_target"),
            # Led by the person's key, so each is also the index a person's deletion (the
            # cascade) and "which lists is this person in" use.
            *[
                models.UniqueConstraint(
                    fields=[field, "target_list"],
                    condition=models.Q(**{f"{field}__isnull": False}),
                    name=f"targetlistentry_unique_{field}",
                )
                for field in TargetFields.TARGET_FIELDS
            ],
        ]
        indexes = [
            models.Index(fields=["target_list", "opted_out"]),
            # The dashboard's list growth counts entries added per week (campaigns.dashboard).
            models.Index(fields=["added_at"], name="targetlistentry_added_at"),
        ]

    def __str__(self) -> str:
        return f"{self.target_list}: {self.target}"


class Report(models.Model):
    """Saved criteria over one kind of person; it can fill target lists with the people it
    matches, on demand or every hour (targetlists.reports)."""

    Entity = Entity

    class Match(models.TextChoices):
        ALL = "all", _("all conditions")
        ANY = "any", _("any condition")

    name = models.CharField(_("name"), max_length=255)
    entity = models.CharField(_("records"), max_length=10, choices=Entity)
    match = models.CharField(_("match"), max_length=3, choices=Match, default=Match.ALL)
    target_lists = models.ManyToManyField(
        TargetList,
        verbose_name=_("target lists"),
        blank=True,
        related_name="reports",
        help_text=_("Filled with the records the report matches when it is synced."),
    )
    sync_hourly = models.BooleanField(
        _("sync every hour"),
        default=False,
        help_text=_("The job 'Sync Target Lists with Reports' adds new matches every hour."),
    )
    remove_unmatched = models.BooleanField(
        _("remove entries that no longer match"),
        default=False,
        help_text=_(
            "Syncing also removes this kind of record from the lists when the report no longer "
            "matches it. Opted-out entries are always kept, so their opt-out is never lost."
        ),
    )
    last_synced_at = models.DateTimeField(_("last synced"), null=True, blank=True, editable=False)
    last_sync_summary = models.CharField(_("last sync"), max_length=500, blank=True, editable=False)

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ReportCondition(models.Model):
    """One condition of a report: a field of its records, an operator and a value."""

    report = models.ForeignKey(
        Report, verbose_name=_("report"), on_delete=models.CASCADE, related_name="conditions"
    )
    field = models.CharField(_("field"), max_length=50)
    operator = models.CharField(_("operator"), max_length=20)
    value = models.CharField(_("value"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("condition")
        verbose_name_plural = _("conditions")
        ordering = ["id"]

    def __str__(self) -> str:
        return describe(self)
