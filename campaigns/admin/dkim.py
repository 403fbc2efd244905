"""DKIM keys in the admin (administrators only): generate or paste a key, publish its record.

The private key is write-only: typed in (or generated) once, stored encrypted, never rendered
into a page again. The change page shows the DNS TXT record to publish.
"""

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from campaigns.authoring import dkim
from campaigns.models import DkimKey
from crm import secrets


class DkimKeyForm(forms.ModelForm):
    private_key = forms.CharField(
        label=_("private key"),
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text=_(
            "Leave empty to have a 2048-bit key generated (or, on a stored key, to keep it). "
            "Or paste an RSA private key in PEM form. It is stored encrypted and never shown."
        ),
    )

    class Meta:
        model = DkimKey
        fields = ("domain", "selector", "active")

    def clean_private_key(self) -> str:
        pem = self.cleaned_data["private_key"]
        if pem:
            try:
                dkim.load_private_key(pem)
            except dkim.DkimError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return pem

    def save(self, commit: bool = True):
        pem = self.cleaned_data.get("private_key")
        if not pem and not self.instance.private_key_encrypted:
            pem = dkim.generate_private_key()
        if pem:
            self.instance.private_key_encrypted = secrets.encrypt(pem)
            self.instance.public_key = dkim.public_key_record(pem)
        return super().save(commit)


@admin.register(DkimKey)
class DkimKeyAdmin(admin.ModelAdmin):
    form = DkimKeyForm
    list_display = ("domain", "selector", "active", "created_at")
    search_fields = ("domain", "selector")
    readonly_fields = ("dns_record",)

    def get_fieldsets(self, request: HttpRequest, obj: DkimKey | None = None):
        fields = ["domain", "selector", "private_key", "active"]
        if obj is not None:
            fields.append("dns_record")
        return ((None, {"fields": fields}),)

    @admin.display(description=_("DNS record to publish"))
    def dns_record(self, obj: DkimKey) -> str:
        return format_html(
            '<p>{}</p><p><code class="dkim-name">{}</code> TXT</p>'
            '<textarea readonly rows="5" cols="80" class="dkim-value">{}</textarea>'
            '<p>{}</p><textarea readonly rows="5" cols="80" class="dkim-zone">{}</textarea>',
            _("Publish this TXT record at your DNS provider, then check that messages verify."),
            obj.dns_name,
            obj.dns_value,
            _("In a zone file (the text cut into strings of at most 255 characters):"),
            obj.zone_file_line,
        )
