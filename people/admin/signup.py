"""Admin of signup forms: what they ask and do, their public page and the snippet to paste."""

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from crm.admin.site import ReadOnlyAdmin
from people import signup
from people.models import SignupConfirmation, SignupForm


def public_url(form: SignupForm) -> str:
    return settings.SITE_URL + reverse("people:signup", args=[form.key])


@admin.register(SignupForm)
class SignupFormAdmin(admin.ModelAdmin):
    list_display = ("name", "campaign", "double_opt_in", "is_active", "created_at")
    list_filter = ("is_active", "double_opt_in", "campaign")
    search_fields = ("name",)
    filter_horizontal = ("target_lists",)
    autocomplete_fields = ()
    readonly_fields = ("hosted_page", "snippet", "text_version")
    fieldsets = (
        (None, {"fields": ("name", "is_active", "campaign", "target_lists", "lead_source")}),
        (
            _("Page"),
            {
                "fields": (
                    "title",
                    "introduction",
                    "ask_first_name",
                    "ask_last_name",
                    "ask_company",
                    "consent_text",
                    "text_version",
                    "language",
                )
            },
        ),
        (_("Double opt-in"), {"fields": ("double_opt_in", "confirmation_template")}),
        (_("After signing up"), {"fields": ("thank_you_text", "redirect_link")}),
        (_("Publish"), {"fields": ("hosted_page", "snippet")}),
    )

    @admin.display(description=_("hosted page"))
    def hosted_page(self, obj: SignupForm) -> str:
        if not obj.pk:
            return _("Save the form to get its page.")
        url = public_url(obj)
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    @admin.display(description=_("HTML snippet"))
    def snippet(self, obj: SignupForm) -> str:
        if not obj.pk:
            return "–"
        code = (
            f'<iframe src="{public_url(obj)}" title="{obj.name}" '
            'style="width:100%;max-width:36rem;height:34rem;border:0"></iframe>'
        )
        return format_html(
            '<textarea readonly rows="3" cols="80">{}</textarea><div class="help">{}</div>',
            code,
            _("Paste it into any web page: it shows the hosted form, with a fresh signed token."),
        )

    def save_model(self, request: HttpRequest, obj: SignupForm, form, change: bool) -> None:
        if change and "consent_text" in form.changed_data:
            obj.text_version += 1  # consent records name the version a person agreed to
        super().save_model(request, obj, form, change)


@admin.register(SignupConfirmation)
class SignupConfirmationAdmin(ReadOnlyAdmin):
    list_display = (
        "email_address",
        "form",
        "lead",
        "created_at",
        "email_sent_at",
        "email_error",
        "confirmed_at",
    )
    list_filter = ("form", ("confirmed_at", admin.EmptyFieldListFilter), "email_sent_at")
    search_fields = ("email_address__address_lower",)
    actions = ["send_again"]

    @admin.action(description=_("Send the confirmation email again"), permissions=["view"])
    def send_again(self, request: HttpRequest, queryset) -> None:
        # Queued, not sent here: hundreds of SMTP conversations would outlast the request.
        queued = signup.send_again(queryset)
        self.message_user(
            request,
            _(
                "Confirmation emails queued, each with a fresh link: %(count)s. The columns email "
                "sent at and email error show how each went."
            )
            % {"count": queued},
            messages.SUCCESS,
        )
