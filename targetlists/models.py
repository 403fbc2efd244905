"""Target lists: named sets of Accounts, Contacts, Leads and Users, each entry with an opt-out."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models import TargetFields


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
        TargetList, verbose_name=_("target list"), on_delete=models.CASCADE, related_name="entries"
    )
    opted_out = models.BooleanField(_("opted out"), default=False)
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        verbose_name = _("target list entry")
        verbose_name_plural = _("target list entries")
        ordering = ["id"]
        constraints = [
            TargetFields.one_target_constraint("targetlistentry_one_target"),
            *[
                models.UniqueConstraint(
                    fields=["target_list", field],
                    condition=models.Q(**{f"{field}__isnull": False}),
                    name=f"targetlistentry_unique_{field}",
                )
                for field in TargetFields.TARGET_FIELDS
            ],
        ]
        indexes = [models.Index(fields=["target_list", "opted_out"])]

    def __str__(self) -> str:
        return f"{self.target_list}: {self.target}"
