"""What the automation's page shows: people per step, what each step's emails did, exits."""

from django.db.models import Count, Q

from automation.models import Automation, Enrolment, Step, StepRun
from campaigns.models import EmailQueueItem
from tracking.models import TrackingHit


def step_figures(step: Step) -> dict[str, int]:
    """Waiting at the step now, passed it, and for a send step its emails sent and the
    people who opened / clicked them (human and machine apart)."""
    figures = {
        "waiting": Enrolment.objects.filter(step=step, status=Enrolment.Status.ACTIVE).count(),
        "passed": StepRun.objects.filter(step=step, carried=False).count(),
    }
    if step.kind != Step.Kind.SEND:
        return figures
    items = StepRun.objects.filter(step=step, queue_item__isnull=False, carried=False).values(
        "queue_item_id"
    )
    figures["sent"] = EmailQueueItem.objects.filter(
        pk__in=items, status=EmailQueueItem.Status.SENT
    ).count()
    hits = TrackingHit.objects.filter(queue_item_id__in=items, is_test=False)
    counts = hits.aggregate(
        opened=Count(
            "queue_item", distinct=True, filter=Q(kind__in=["open", "click"], is_machine=False)
        ),
        clicked=Count("queue_item", distinct=True, filter=Q(kind="click", is_machine=False)),
        machine_opened=Count("queue_item", distinct=True, filter=Q(kind="open", is_machine=True)),
        machine_clicked=Count("queue_item", distinct=True, filter=Q(kind="click", is_machine=True)),
    )
    return figures | counts


def people_figures(automation: Automation) -> dict[str, int]:
    """Active, completed, and exits by reason."""
    rows = automation.enrolments.values("status", "exit_reason").annotate(n=Count("id"))
    figures: dict[str, int] = {}
    for row in rows:
        key = row["exit_reason"] or row["status"]
        figures[key] = figures.get(key, 0) + row["n"]
    return figures
