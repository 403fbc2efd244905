"""Email templates: subject and bodies with {placeholders}, plus attachments."""

from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm import placeholders

# Checks that apps above crm add to EmailTemplate.clean() (campaigns: its tracking URL codes
# exist), registered in their AppConfig.ready(), since crm may not import them.
TEMPLATE_CHECKS: list[Callable[["EmailTemplate"], None]] = []


def register_template_check(check: Callable[["EmailTemplate"], None]) -> None:
    """Run `check(template)` in EmailTemplate.clean(); it raises ValidationError to refuse."""
    if check not in TEMPLATE_CHECKS:
        TEMPLATE_CHECKS.append(check)


class TemplateEditor(models.TextChoices):
    """How a template's HTML is written: by hand, or built visually (then compiled from MJML)."""

    SOURCE = "source", _("HTML source")
    VISUAL = "visual", _("Visual builder")


class EmailTemplate(models.Model):
    name = models.CharField(_("name"), max_length=255)
    subject = models.CharField(_("subject"), max_length=998)
    preheader = models.CharField(
        _("preheader"),
        max_length=255,
        blank=True,
        help_text=_(
            "The preview text mail apps show after the subject; hidden in the message itself. "
            "Placeholders work here too."
        ),
    )
    body_html = models.TextField(_("HTML body"), blank=True)
    body_text = models.TextField(
        _("plain-text body"),
        blank=True,
        help_text=_("Left empty, a plain-text version is derived from the HTML body."),
    )
    editor = models.CharField(
        _("editor"), max_length=10, choices=TemplateEditor.choices, default=TemplateEditor.SOURCE
    )
    # A visual template: the builder's own project data (to open it again as it was left) and
    # its MJML, from which body_html is compiled on the server (campaigns.authoring).
    design = models.JSONField(_("design"), default=dict, blank=True)
    body_mjml = models.TextField(_("MJML body"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("email template")
        verbose_name_plural = _("email templates")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_visual(self) -> bool:
        return self.editor == TemplateEditor.VISUAL

    def clean(self) -> None:
        if not self.body_html.strip() and not self.body_text.strip():
            raise ValidationError(_("Write an HTML body, a plain-text body, or both."))
        errors = {}
        for field in ("subject", "preheader", "body_html", "body_text"):
            try:
                placeholders.validate(getattr(self, field))
            except placeholders.PlaceholderError as exc:
                errors[field] = str(exc)
        if errors:
            raise ValidationError(errors)
        for check in TEMPLATE_CHECKS:
            check(self)


class EmailTemplateAttachment(models.Model):
    template = models.ForeignKey(
        EmailTemplate, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(_("file"), upload_to="template-attachments/%Y/%m/")
    name = models.CharField(_("file name"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.name or self.file.name
