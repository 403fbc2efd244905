"""The preference center on the opt-out page: which lists to stay on, everything, and why.

The page lists the mass email's target lists the person is in (by category name when the list
has one), each with a checkbox. Unticking a list opts the entry out; ticking it again
subscribes it again; "unsubscribe from everything" also opts the shared address out of all
mass email. Every change is kept as a consent record, and a reason, when given, is stored so
the results can count them (`reason_counts`).
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count

from campaigns.models import Campaign, CampaignLogRecord, EmailQueueItem
from crm import consent, suppression
from crm.models import EmailAddress
from targetlists.adding import opt_out_entries
from tracking.models import OptOutReason
from tracking.opt_out import _check, _entries_of
from tracking.recording import add_log_records, log_record

MAX_REASON_TEXT = 1000


@dataclass(frozen=True)
class ListChoice:
    entry_id: int
    label: str
    subscribed: bool


def choices(item: EmailQueueItem) -> list[ListChoice]:
    """The person's entries in the mass email's target lists, as the page shows them."""
    entries = (
        _entries_of(item).select_related("target_list__category").order_by("target_list__name")
    )
    return [
        ListChoice(
            entry.pk,
            entry.target_list.category.name
            if entry.target_list.category
            else str(entry.target_list),
            not entry.opted_out,
        )
        for entry in entries
    ]


def save(item: EmailQueueItem, keep: set[int], everything: bool, client: str = "") -> None:
    """Keep the entries whose ids are in `keep`, opt the others out (all with `everything`,
    which also opts the address out of all mass email). Logs Opted Out when a list is left,
    and removes that record when the person stays on every list again. Raises
    tracking.opt_out.NotSubscribable for an informational campaign."""
    _check(item)
    entries = _entries_of(item)
    keep = set() if everything else keep
    with transaction.atomic():
        address, left = None, 0
        if item.email_address_id:
            address = EmailAddress.objects.get(pk=item.email_address_id)
        if everything and address is not None:
            # The address first: the stream hears "opted out of everything" before the lists
            # it leaves, so an automation ends as unsubscribed, not as "left the list".
            chosen = EmailAddress.objects.filter(pk=address.pk)
            left += len(suppression.flag_addresses(chosen, "opted_out", via="preferences"))
        left += opt_out_entries(entries.exclude(pk__in=keep))
        back = entries.filter(pk__in=keep, opted_out=True).update(opted_out=False)
        opted_out_somewhere = entries.filter(opted_out=True).exists() or everything
        if opted_out_somewhere:
            add_log_records([log_record(item, CampaignLogRecord.Action.OPTED_OUT)])
        else:
            CampaignLogRecord.objects.filter(
                queue_item=item, action=CampaignLogRecord.Action.OPTED_OUT
            ).delete()
        _consent(item, address, left, back, client)


def _consent(item, address, left: int, back: int, client: str) -> None:
    for action, happened in ((consent.Action.OPT_OUT, left), (consent.Action.OPT_IN, back)):
        if happened:
            consent.record(
                action,
                consent.Method.PREFERENCES,
                address=address,
                person=item.target,
                source=str(item.mass_email),
                client=client,
            )


def record_reason(item: EmailQueueItem, reason: str, text: str) -> OptOutReason | None:
    """Store the reason the person gave (None when they gave none or an unknown choice)."""
    reason = reason if reason in OptOutReason.Choice.values else ""
    text = text.replace("\x00", "").strip()[:MAX_REASON_TEXT]  # PostgreSQL refuses NUL
    if not reason and not text:
        return None
    return OptOutReason.objects.create(
        queue_item=item, campaign_id=item.mass_email.campaign_id, reason=reason, text=text
    )


def reason_counts(campaign: Campaign) -> dict[str, int]:
    """How many opt-outs gave each reason ('' for free text only), tests excluded."""
    rows = (
        OptOutReason.objects.filter(campaign=campaign, queue_item__is_test=False)
        .values_list("reason")
        .annotate(n=Count("*"))
        .order_by()
    )
    return dict(rows)


def entries_kept(post, item: EmailQueueItem) -> set[int]:
    """The entry ids ticked in the posted form, limited to the person's own entries."""
    ticked = set()
    for value in post.getlist("keep"):
        if value.isdigit() and len(value) < 19:
            ticked.add(int(value))
    own = set(_entries_of(item).values_list("pk", flat=True))
    return ticked & own
