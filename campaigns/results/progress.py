"""How far a mass email has got: item counts by status, the latest errors and the domains that
defer it (tests excluded)."""

from dataclasses import dataclass

from django.db.models import Count, Q

from campaigns.models import DomainDeferral, EmailQueueItem, MassEmail

Status = EmailQueueItem.Status
LAST_ERRORS = 10


@dataclass(frozen=True)
class Progress:
    total: int
    sent: int
    pending: int  # Pending and Sending: not done yet (deferred ones included)
    deferred: int  # Pending after a server deferred them: waiting for their next attempt
    failed: int
    last_errors: list  # the latest failed or retried items with their error, newest first
    deferring_domains: list  # DomainDeferral rows: domains that defer this mass email now
    held: int = 0  # outside an A/B test's share: waiting for its winner

    @property
    def percent_sent(self) -> str:
        return f"{100 * self.sent / self.total:.2f}" if self.total else "0.00"


def progress(mass_email: MassEmail) -> Progress:
    """The progress of `mass_email` in two indexed queries."""
    items = EmailQueueItem.objects.filter(mass_email=mass_email, is_test=False)
    counts = items.aggregate(
        total=Count("id"),
        sent=Count("id", filter=Q(status=Status.SENT)),
        pending=Count("id", filter=Q(status__in=[Status.PENDING, Status.SENDING])),
        deferred=Count("id", filter=Q(status=Status.PENDING, next_attempt_at__isnull=False)),
        failed=Count("id", filter=Q(status=Status.FAILED)),
        held=Count("id", filter=Q(status=Status.HELD)),
    )
    errors = items.exclude(last_error="").order_by("-id")[:LAST_ERRORS]
    return Progress(
        **counts,
        last_errors=list(errors.select_related("email_address")),
        deferring_domains=list(DomainDeferral.objects.filter(mass_email=mass_email)),
    )
