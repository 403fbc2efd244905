"""The log of scheduled-job runs: read-only, for troubleshooting ("did the job run? why not?")."""

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.models import JobRun


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ("job", "status", "started_at", "duration", "summary", "error")
    list_filter = ("job", "status", "started_at")
    search_fields = ("summary", "error")
    date_hierarchy = "started_at"
    readonly_fields = ("job", "status", "started_at", "finished_at", "summary", "error")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description=_("duration"))
    def duration(self, run: JobRun) -> str:
        if not run.finished_at:
            return ""
        return f"{(run.finished_at - run.started_at).total_seconds():.1f} s"
