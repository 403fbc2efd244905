"""Tracking in the admin: read-only hits, to see why a hit counted as a machine's; and the
"Check for bounces now" action on group email accounts."""

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from crm.admin import mail_settings  # noqa: F401  (registers the account admin extended below)
from crm.admin.site import ReadOnlyAdmin, add_admin_action
from crm.models import EmailAccount
from tracking import mailboxes
from tracking.models import OptOutReason, TrackingHit


@admin.register(TrackingHit)
class TrackingHitAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "campaign", "queue_item", "is_machine", "reason", "user_agent"]
    list_filter = ["kind", "is_machine", "reason", "is_test", "campaign"]
    search_fields = ["queue_item__email"]
    list_select_related = ["campaign", "queue_item__mass_email"]


@admin.register(OptOutReason)
class OptOutReasonAdmin(ReadOnlyAdmin):
    list_display = ["at", "campaign", "reason", "text"]
    list_filter = ["reason", "campaign"]
    show_full_result_count = False
    date_hierarchy = "at"


class CheckForBouncesMixin:
    @admin.action(description=gettext_lazy("Check for bounces now"))
    def check_for_bounces(self, request: HttpRequest, queryset) -> None:
        """Read the selected accounts' mailboxes now, as the scheduled job would."""
        for account in queryset.order_by("name"):
            result = mailboxes.check_account(account)
            level = messages.ERROR if result.error else messages.SUCCESS
            self.message_user(request, str(result), level)


add_admin_action(EmailAccount, CheckForBouncesMixin, "check_for_bounces")
