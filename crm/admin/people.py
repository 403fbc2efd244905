"""Admin pages for people a mass email can reach, and for their shared email addresses.

Accounts, Contacts and Leads edit their address as a plain "Email" field; saving finds or creates
the shared EmailAddress row, whose opt-out and invalid flags then show in every list. The
"Add to target list" action on these lists (and on Users) comes from targetlists.admin, which
extends these classes: crm must not import targetlists.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm import person_events, suppression
from crm.address_fields import AddressFormField
from crm.admin.site import CheckedAutocompleteAdmin
from crm.models import Account, Contact, EmailAddress, Lead
from crm.models.people import normalize_address


class PersonForm(forms.ModelForm):
    """A person's form with a plain Email field in place of the shared-address foreign key."""

    email = AddressFormField(
        label=_("Email"),
        required=False,
        help_text=_(
            "Shared with every record that uses the same address: its opt-out and invalid "
            "flags apply to all of them."
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["email"].initial = self.instance.email

    def save(self, commit: bool = True):
        address = self.cleaned_data.get("email", "")
        self.instance.email_address = EmailAddress.for_address(address) if address else None
        return super().save(commit)


class PersonAdmin(CheckedAutocompleteAdmin):
    """What the Account, Contact and Lead pages share: the email column, flags and filters."""

    form = PersonForm
    list_per_page = 50
    date_hierarchy = "created_at"
    readonly_fields = ("email_flags", "created_at", "updated_at")
    flag_filters = (
        ("email_address", admin.EmptyFieldListFilter),
        "email_address__opt_out",
        "email_address__invalid",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("email_address")

    # The admin's views run in a transaction: each change's event is recorded in it.
    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            person_events.updated(obj, list(form.changed_data), via="admin")
        else:
            person_events.created(obj, via="admin")

    def delete_model(self, request: HttpRequest, obj) -> None:
        person_events.deleted([obj], via="admin")
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        person_events.deleted(queryset.select_related("email_address"), via="admin")
        super().delete_queryset(request, queryset)

    @admin.display(description=_("email"), ordering="email_address__address_lower")
    def email_column(self, obj) -> str:
        return obj.email

    @admin.display(boolean=True, description=_("opted out"), ordering="email_address__opt_out")
    def email_opt_out(self, obj) -> bool | None:
        return obj.email_address.opt_out if obj.email_address_id else None

    @admin.display(boolean=True, description=_("invalid"), ordering="email_address__invalid")
    def email_invalid(self, obj) -> bool | None:
        return obj.email_address.invalid if obj.email_address_id else None

    @admin.display(description=_("email address flags"))
    def email_flags(self, obj) -> str:
        if not obj.pk or not obj.email_address_id:
            return "–"
        row = obj.email_address
        url = reverse("admin:crm_emailaddress_change", args=[row.pk])
        return format_html(
            '{}: {} · {}: {} · <a href="{}">{}</a>',
            _("Opted out"),
            _("yes") if row.opt_out else _("no"),
            _("Invalid"),
            _("yes") if row.invalid else _("no"),
            url,
            _("Change the flags"),
        )


@admin.register(Account)
class AccountAdmin(PersonAdmin):
    list_display = (
        "name",
        "email_column",
        "email_opt_out",
        "email_invalid",
        "industry",
        "phone",
        "created_at",
    )
    list_filter = ("industry", *PersonAdmin.flag_filters)
    search_fields = ("name", "email_address__address", "website", "phone")
    fields = (
        "name",
        "email",
        "website",
        "industry",
        "phone",
        "external_id",
        "email_flags",
        ("created_at", "updated_at"),
    )
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Contact)
class ContactAdmin(PersonAdmin):
    list_display = (
        "name",
        "email_column",
        "email_opt_out",
        "email_invalid",
        "account",
        "title",
        "created_at",
    )
    list_filter = PersonAdmin.flag_filters
    list_select_related = ("email_address", "account")
    search_fields = (
        "first_name",
        "last_name",
        "email_address__address",
        "account__name",
        "title",
        "phone",
    )
    autocomplete_fields = ("account",)
    fields = (
        ("first_name", "last_name"),
        "email",
        "account",
        "title",
        "phone",
        "external_id",
        "email_flags",
        ("created_at", "updated_at"),
    )


@admin.register(Lead)
class LeadAdmin(PersonAdmin):
    list_display = (
        "name",
        "email_column",
        "email_opt_out",
        "email_invalid",
        "account_name",
        "status",
        "source",
        "created_at",
    )
    list_filter = ("status", "source", *PersonAdmin.flag_filters)
    search_fields = (
        "first_name",
        "last_name",
        "email_address__address",
        "account_name",
        "source",
        "phone",
    )
    fields = (
        ("first_name", "last_name"),
        "email",
        "account_name",
        "title",
        "phone",
        "status",
        "source",
        "external_id",
        "email_flags",
        ("created_at", "updated_at"),
    )


class EmailAddressForm(forms.ModelForm):
    class Meta:
        model = EmailAddress
        fields = ("address", "opt_out", "invalid")

    def clean_address(self) -> str:
        address = self.cleaned_data["address"]
        taken = EmailAddress.objects.filter(address_lower=normalize_address(address))
        if taken.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("This address exists already."))
        return address


def _flag(queryset: QuerySet, reason: str) -> int:
    # Through the suppression list, which tells the people's automations to end.
    return len(suppression.flag_addresses(queryset, reason, via="admin"))


def _clear_flag(queryset: QuerySet, flag: str) -> int:
    return queryset.filter(**{flag: True}).update(**{flag: False})


@admin.register(EmailAddress)
class EmailAddressAdmin(admin.ModelAdmin):
    form = EmailAddressForm
    list_display = ("address", "opt_out", "invalid", "soft_bounces")
    list_editable = ("opt_out", "invalid")
    list_filter = ("opt_out", "invalid")
    search_fields = ("address",)
    list_per_page = 100
    actions = ("mark_opted_out", "mark_opted_in", "mark_invalid", "mark_valid")

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple:
        # The address text is shared by everyone using it; a typo fix belongs on the person.
        return ("address", "soft_bounces", "used_by") if obj else ()

    def get_fields(self, request: HttpRequest, obj=None) -> tuple:
        if obj:
            return ("address", "opt_out", "invalid", "soft_bounces", "used_by")
        return ("address", "opt_out", "invalid")

    # The change form and the list's editable flags; the admin's views run in a transaction.
    def save_model(self, request: HttpRequest, obj: EmailAddress, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        for reason, column in suppression.FLAGS.items():
            if column in form.changed_data and getattr(obj, column):
                suppression.record_flagged([obj.pk], reason, via="admin")

    @admin.display(description=_("used by"))
    def used_by(self, obj: EmailAddress) -> str:
        people = [
            (reverse(f"admin:crm_{model._meta.model_name}_change", args=[person.pk]), person)
            for model in (Account, Contact, Lead)
            for person in model.objects.filter(email_address=obj)[:20]
        ]
        return format_html_join(", ", '<a href="{}">{}</a>', people) if people else "–"

    @admin.action(description=_("Opt selected addresses out of all mass email"))
    def mark_opted_out(self, request, queryset) -> None:
        count = _flag(queryset, "opted_out")
        message = ngettext("%(count)d address opted out.", "%(count)d addresses opted out.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Opt selected addresses in again"))
    def mark_opted_in(self, request, queryset) -> None:
        count = _clear_flag(queryset, "opt_out")
        message = ngettext("%(count)d address opted in.", "%(count)d addresses opted in.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Mark selected addresses invalid"))
    def mark_invalid(self, request, queryset) -> None:
        count = _flag(queryset, "invalid")
        message = ngettext(
            "%(count)d address marked invalid.", "%(count)d addresses marked invalid.", count
        )
        self.message_user(request, message % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Mark selected addresses valid"))
    def mark_valid(self, request, queryset) -> None:
        count = _clear_flag(queryset, "invalid")
        message = ngettext(
            "%(count)d address marked valid.", "%(count)d addresses marked valid.", count
        )
        self.message_user(request, message % {"count": count}, messages.SUCCESS)


class UserEmailAdmin(type(admin.site.get_model_admin(get_user_model()))):
    """Django's user pages, with the email box checked like every other address (a user can
    be a mass email's recipient): UTF-8 local parts accepted, each problem named."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "email":
            return AddressFormField(label=db_field.verbose_name.capitalize(), required=False)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class AddressCheckedForm(form):
            def _get_validation_exclusions(self):
                # User.email's own EmailValidator would refuse UTF-8 local parts again.
                return {*super()._get_validation_exclusions(), "email"}

        return AddressCheckedForm


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UserEmailAdmin)
