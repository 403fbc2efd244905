"""Admin for email templates: placeholder errors as form errors, and a preview for a chosen person.

A template is written as HTML source or built visually (campaigns.authoring.visual): a visual
template's design and MJML are checked and compiled into its HTML body when the form is saved,
whatever the browser sent. Placeholders are checked by EmailTemplate.clean() when the form is
saved, so an unknown or unclosed one is an error on the field that holds it. The preview renders
the template for an account, contact, lead or user (by default the marketer), HTML-escaped and
header-safe. The form page has its own Content-Security-Policy for the builder (settings:
CONTENT_SECURITY_POLICY_VIEWS).
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from campaigns.authoring import builder_page, images, template_editor, visual
from campaigns.models import MassEmailSettings
from crm import placeholders
from crm.models import Account, Contact, EmailTemplate, EmailTemplateAttachment, Lead
from crm.models.templates import TemplateEditor

MATCHES_PER_TYPE = 10


def preview_models(request: HttpRequest) -> dict[str, type[Model]]:
    """The kinds of people the user may see, by the `type` value in the preview URL."""
    models = {"account": Account, "contact": Contact, "lead": Lead, "user": get_user_model()}
    return {
        kind: model
        for kind, model in models.items()
        if request.user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}")
        or request.user.has_perm(f"{model._meta.app_label}.change_{model._meta.model_name}")
    }


def search_people(request: HttpRequest, term: str) -> list[dict]:
    """Up to MATCHES_PER_TYPE people of each type whose name or email contains `term`."""
    name_lookups = {
        "account": ("name", "email_address__address"),
        "contact": ("first_name", "last_name", "email_address__address"),
        "lead": ("first_name", "last_name", "email_address__address"),
        "user": ("username", "first_name", "last_name", "email"),
    }
    found = []
    for kind, model in preview_models(request).items():
        condition = Q()
        for lookup in name_lookups[kind]:
            condition |= Q(**{f"{lookup}__icontains": term})
        label = model._meta.verbose_name
        found += [
            {"kind": kind, "label": label, "person": person}
            for person in model.objects.filter(condition)[:MATCHES_PER_TYPE]
        ]
    return found


def placeholder_names() -> list[str]:
    """Every placeholder a template can use, as the marketer writes it."""
    names = [
        f"{{{entity}.{field}}}"
        for entity, fields in placeholders.ENTITY_FIELDS.items()
        for field in sorted(fields)
    ]
    names += ["{Contact.account.name}", "{today}", "{now}", "{currentYear}"]
    return names + ["{optOutUrl}", "{optOutLink}", "{webViewUrl}"]


class EmailTemplateForm(forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = ("name", "subject", "preheader", "editor", "body_html", "body_text")
        fields += ("design", "body_mjml")
        widgets = {
            "subject": forms.TextInput(attrs={"class": "vLargeTextField"}),
            "editor": forms.RadioSelect,
            "body_html": forms.Textarea(attrs={"rows": 20, "class": "vLargeTextField"}),
            "design": forms.HiddenInput,
            "body_mjml": forms.HiddenInput,
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["editor"].required = False  # sent without it: an HTML source template

    def clean_editor(self) -> str:
        return self.cleaned_data.get("editor") or TemplateEditor.SOURCE

    def clean_subject(self) -> str:
        subject = self.cleaned_data["subject"]
        if "\r" in subject or "\n" in subject:
            raise forms.ValidationError(_("The subject must be a single line."))
        return subject

    def clean(self) -> dict:
        """A visual template's HTML body is compiled from its checked design; a source
        template keeps no design."""
        data = super().clean()
        if data.get("editor") != TemplateEditor.VISUAL:
            data["design"], data["body_mjml"] = {}, ""
            return data
        base_url = MassEmailSettings.load().base_url
        try:
            design = data.get("design")
            data["body_html"] = visual.compile_design(
                {} if design is None else design, data.get("body_mjml", ""), base_url
            )
        except forms.ValidationError as exc:
            self.add_error(None, exc)
        return data


class AttachmentInline(admin.TabularInline):
    model = EmailTemplateAttachment
    extra = 0
    fields = ("file", "name")


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    form = EmailTemplateForm
    inlines = (AttachmentInline,)
    list_display = ("name", "subject", "updated_at")
    search_fields = ("name", "subject", "body_html", "body_text")
    list_filter = ("updated_at",)
    date_hierarchy = "updated_at"
    readonly_fields = ("placeholder_help",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "subject",
                    "preheader",
                    "editor",
                    "body_html",
                    "body_text",
                    "design",
                    "body_mjml",
                )
            },
        ),
        (_("Placeholders"), {"fields": ("placeholder_help",), "classes": ("collapse",)}),
    )

    @admin.display(description=_("available placeholders"))
    def placeholder_help(self, obj: EmailTemplate | None = None) -> str:
        return " ".join([*placeholder_names(), "{trackingUrl:ID}", "{Person.firstName|fallback}"])

    def get_urls(self):
        def view(function, *args):
            return self.admin_site.admin_view(lambda request: function(request, self, *args))

        return [
            path(
                "live-preview/",
                view(template_editor.live_preview, preview_models),
                name="crm_emailtemplate_live_preview",
            ),
            path(
                "preview-people/",
                view(template_editor.people, search_people),
                name="crm_emailtemplate_preview_people",
            ),
            path(
                "builder-images/",
                view(images.upload),
                name="crm_emailtemplate_builder_images",
            ),
            path(
                "tracking-codes/",
                view(template_editor.tracking_codes),
                name="crm_emailtemplate_tracking_codes",
            ),
            path(
                "<path:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="crm_emailtemplate_preview",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request: HttpRequest, context: dict, *args, **kwargs):
        context["editor"] = {
            "placeholders": placeholder_names(),
            "campaigns": template_editor.campaign_choices(request),
            "urls": {
                "live": reverse("admin:crm_emailtemplate_live_preview"),
                "people": reverse("admin:crm_emailtemplate_preview_people"),
                "codes": reverse("admin:crm_emailtemplate_tracking_codes"),
            },
            "text": template_editor.editor_texts(),
        }
        context["builder"] = builder_page.config(reverse("admin:crm_emailtemplate_builder_images"))
        return super().render_change_form(request, context, *args, **kwargs)

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        template = self.get_object(request, object_id)  # None for an id that is no number
        if template is None:
            raise Http404(_("There is no email template with this id."))
        if not self.has_view_permission(request, template):
            raise PermissionDenied
        person = self._chosen_person(request)
        is_sample = isinstance(person, placeholders.SamplePerson)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Preview of “%(name)s”") % {"name": template},
            "opts": self.model._meta,
            "original": template,
            "person": person,
            "person_type": _("sample person") if is_sample else person._meta.verbose_name,
            "term": request.GET.get("q", "").strip(),
        }
        if context["term"]:
            context["matches"] = search_people(request, context["term"])
        context["rendered"], errors = template_editor.render_fields(template, person)
        if errors:
            context["error"] = " ".join(errors.values())
        return TemplateResponse(request, "admin/crm/emailtemplate/preview.html", context)

    def _chosen_person(self, request: HttpRequest) -> Model | placeholders.SamplePerson:
        kind, pk = request.GET.get("type"), request.GET.get("id")
        if not kind:
            return placeholders.SamplePerson()
        if kind == "me":
            return request.user
        model = preview_models(request).get(kind)
        if model is None or not str(pk).isdigit():
            raise Http404(_("Choose an account, contact, lead or user."))
        return get_object_or_404(model, pk=pk)
