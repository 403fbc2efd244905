"""Tracking hits in the admin: read-only, to see why a hit counted as a machine's."""

from django.contrib import admin

from crm.admin.site import ReadOnlyAdmin
from tracking.models import TrackingHit


@admin.register(TrackingHit)
class TrackingHitAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "campaign", "queue_item", "is_machine", "reason", "user_agent"]
    list_filter = ["kind", "is_machine", "reason", "is_test", "campaign"]
    search_fields = ["queue_item__email"]
    list_select_related = ["campaign", "queue_item__mass_email"]
    show_full_result_count = False
    date_hierarchy = "at"
