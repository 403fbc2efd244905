"""Admin pages for outbound SMTP settings and group email accounts, with "send test email".

Passwords are write-only: the form has an empty password box (empty keeps the stored one) and a
"clear" checkbox; neither the password nor its ciphertext is ever rendered into a page.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import esp_api, smtp
from crm.address_fields import AddressFormField
from crm.admin.site import SingletonAdmin
from crm.models import EmailAccount, OutboundEmailSettings, SendingMethod


def password_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )


def clear_password_field() -> forms.BooleanField:
    return forms.BooleanField(label=gettext_lazy("Clear the stored password"), required=False)


SMTP_MODEL_FIELDS = ("smtp_host", "smtp_port", "smtp_security", "smtp_username")
CAPACITY_MODEL_FIELDS = ("connections", "messages_per_session", "messages_per_second")
ESP_MODEL_FIELDS = (
    "sending_method",
    "esp_access_key_id",
    "esp_region",
    "esp_domain",
    "esp_api_url",
)
ESP_FIELDS = (*ESP_MODEL_FIELDS[:2], "esp_api_key", "clear_esp_api_key", *ESP_MODEL_FIELDS[2:])
ESP_DESCRIPTION = gettext_lazy(
    "SMTP sends through the server above. An ESP's API needs its API key (Postmark: the server "
    "token; Amazon SES: the secret access key), and Mailgun its sending domain and region (us or "
    "eu), Amazon SES its access key ID and AWS region. See docs/delivery.md, “ESP APIs”."
)
IMAP_MODEL_FIELDS = ("imap_host", "imap_port", "imap_security", "imap_username", "imap_folder")


class WriteOnlyPasswordsForm(forms.ModelForm):
    """A model form whose `password_fields` are typed in but never shown back."""

    password_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.password_fields:
            if name not in self.fields:
                continue
            stored = bool(getattr(self.instance, f"{name}_encrypted", ""))
            if name == "esp_api_key":
                self.fields[name].help_text = (
                    _("An API key is stored. Leave empty to keep it.")
                    if stored
                    else _("No API key is stored.")
                )
                continue
            self.fields[name].help_text = (
                _("A password is stored. Leave empty to keep it.")
                if stored
                else _("No password is stored.")
            )

    def clean(self):
        cleaned = super().clean()
        for name in self.password_fields:
            if cleaned.get(name) and cleaned.get(f"clear_{name}"):
                self.add_error(f"clear_{name}", _("Either type a new password or clear it."))
        return cleaned

    def save(self, commit: bool = True):
        for name in self.password_fields:
            if self.cleaned_data.get(f"clear_{name}"):
                setattr(self.instance, name, "")
            elif self.cleaned_data.get(name):
                setattr(self.instance, name, self.cleaned_data[name])
        return super().save(commit)


class EspCredentialsForm(WriteOnlyPasswordsForm):
    """The sending method and an ESP's credentials; the API key is write-only like passwords.

    An ESP method needs its credentials (SmtpFields.esp_problems)."""

    esp_api_key = password_field(gettext_lazy("API key"))
    esp_api_url = OutboundEmailSettings._meta.get_field("esp_api_url").formfield(
        assume_scheme="https"
    )
    clear_esp_api_key = forms.BooleanField(
        label=gettext_lazy("Clear the stored API key"), required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "sending_method" in self.fields:
            self.fields["sending_method"].required = False  # left out: SMTP, as before

    def clean_sending_method(self) -> str:
        return self.cleaned_data.get("sending_method") or SendingMethod.SMTP

    def clean(self):
        cleaned = super().clean()
        probe = type(self.instance)()
        for name in ESP_MODEL_FIELDS:
            setattr(probe, name, cleaned.get(name) or "")
        probe.sending_method = cleaned.get("sending_method") or probe.sending_method
        stored = bool(self.instance.esp_api_key_encrypted) and not cleaned.get("clear_esp_api_key")
        probe.esp_api_key_encrypted = "typed" if cleaned.get("esp_api_key") or stored else ""
        for name, problem in probe.esp_problems().items():
            if name in self.fields and name not in self.errors:
                self.add_error(name, problem)
        return cleaned


class OutboundEmailSettingsForm(EspCredentialsForm):
    password_fields = ("smtp_password", "esp_api_key")
    smtp_password = password_field(gettext_lazy("SMTP password"))
    clear_smtp_password = clear_password_field()

    class Meta:
        model = OutboundEmailSettings
        fields = (
            *SMTP_MODEL_FIELDS,
            "from_address",
            "from_name",
            *CAPACITY_MODEL_FIELDS,
            *ESP_MODEL_FIELDS,
        )


class EmailAccountForm(EspCredentialsForm):
    password_fields = ("smtp_password", "imap_password", "esp_api_key")
    smtp_password = password_field(gettext_lazy("SMTP password"))
    clear_smtp_password = clear_password_field()
    imap_password = password_field(gettext_lazy("IMAP password"))
    clear_imap_password = clear_password_field()

    class Meta:
        model = EmailAccount
        fields = (
            "name",
            "email_address",
            "from_name",
            "is_active",
            "use_smtp",
            *SMTP_MODEL_FIELDS,
            *CAPACITY_MODEL_FIELDS,
            *ESP_MODEL_FIELDS,
            *IMAP_MODEL_FIELDS,
            "monitor_bounces",
        )


class TestEmailForm(forms.Form):
    to_address = AddressFormField(label=gettext_lazy("Send to"))


SMTP_FIELDS = (*SMTP_MODEL_FIELDS, "smtp_password", "clear_smtp_password")


class SendTestEmailMixin:
    """Adds the page `<id>/send-test-email/`, linked from the change form."""

    change_form_template = "crm/admin/smtp_change_form.html"

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}_send_test_email"
        view = self.admin_site.admin_view(self.send_test_email_view)
        return [path("<path:object_id>/send-test-email/", view, name=name), *super().get_urls()]

    def can_send(self, obj) -> bool:
        return True

    def send_test_email_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_change_permission(request, obj):
            raise PermissionDenied
        opts = self.model._meta
        change_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        form = TestEmailForm(request.POST or None, initial={"to_address": request.user.email})
        if request.method == "POST" and form.is_valid():
            to_address = form.cleaned_data["to_address"]
            if self._send(request, obj, to_address):
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Send a test email"),
            "opts": opts,
            "original": obj,
            "form": form,
            "change_url": change_url,
            "can_send": self.can_send(obj),
        }
        return render(request, "crm/admin/send_test_email.html", context)

    def _send(self, request: HttpRequest, obj, to_address: str) -> bool:
        if not self.can_send(obj):
            messages.error(request, _("This account is not used for sending."))
            return False
        try:
            if obj.uses_esp_api:
                esp_api.send_test_email(obj, to_address)
            else:
                smtp.send_test_email(obj, to_address)
        except smtp.SmtpFailure as exc:
            messages.error(request, _("The test email was not sent. %(reason)s") % {"reason": exc})
            return False
        messages.success(
            request, _("The test email was sent to %(address)s.") % {"address": to_address}
        )
        return True


@admin.register(OutboundEmailSettings)
class OutboundEmailSettingsAdmin(SendTestEmailMixin, SingletonAdmin):
    form = OutboundEmailSettingsForm
    fieldsets = (
        (gettext_lazy("SMTP server"), {"fields": SMTP_FIELDS}),
        (gettext_lazy("Sender"), {"fields": ("from_address", "from_name")}),
        (gettext_lazy("Sending capacity"), {"fields": CAPACITY_MODEL_FIELDS}),
        (
            gettext_lazy("Sending method (SMTP or an ESP's API)"),
            {"fields": ESP_FIELDS, "description": ESP_DESCRIPTION},
        ),
    )


@admin.register(EmailAccount)
class EmailAccountAdmin(SendTestEmailMixin, admin.ModelAdmin):
    form = EmailAccountForm
    list_display = ("name", "email_address", "use_smtp", "monitor_bounces", "is_active")
    list_filter = ("use_smtp", "monitor_bounces", "is_active")
    search_fields = ("name", "email_address")
    fieldsets = (
        (None, {"fields": ("name", "email_address", "from_name", "is_active")}),
        (gettext_lazy("Sending (SMTP)"), {"fields": ("use_smtp", *SMTP_FIELDS)}),
        (gettext_lazy("Sending capacity"), {"fields": CAPACITY_MODEL_FIELDS}),
        (
            gettext_lazy("Sending method (SMTP or an ESP's API)"),
            {"fields": ESP_FIELDS, "description": ESP_DESCRIPTION},
        ),
        (
            gettext_lazy("Mailbox (IMAP)"),
            {
                "fields": (
                    "monitor_bounces",
                    "imap_host",
                    "imap_port",
                    "imap_security",
                    "imap_username",
                    "imap_password",
                    "clear_imap_password",
                    "imap_folder",
                )
            },
        ),
    )

    def can_send(self, obj: EmailAccount) -> bool:
        return obj.use_smtp
