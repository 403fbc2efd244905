"""Unsubscribing a recipient of a mass email, and undoing it.

The person's entries in the target lists of the mass email are marked opted out; people who are
not in a list are not added to it (an entry is only ever marked, never created). With the mass
email's "opt out entirely", the shared email address is opted out of all mass email too.
"""

from django.db import transaction

from campaigns.models import CampaignLogRecord, EmailQueueItem
from crm import consent, events, suppression
from crm.models import EmailAddress
from targetlists.adding import opt_out_entries
from targetlists.models import TargetListEntry
from tracking.recording import Visit, add_hit, add_log_records, event_of, log_record


class NotSubscribable(ValueError):
    """Informational campaigns have no opt-out: service notices ignore it."""


def _entries_of(item: EmailQueueItem):
    """The entries of the item's person in the target lists of its mass email."""
    target = item.target_type
    if not target:
        return TargetListEntry.objects.none()
    return TargetListEntry.objects.filter(
        target_list__in=item.mass_email.target_lists.all(),
        **{f"{target}_id": getattr(item, f"{target}_id")},
    )


def _check(item: EmailQueueItem) -> None:
    if item.mass_email.campaign.is_informational:
        raise NotSubscribable("informational campaigns cannot be unsubscribed from")


# How each way of unsubscribing is kept in the consent records.
CONSENT_METHODS = {"opt_out": consent.Method.PAGE, "one_click": consent.Method.ONE_CLICK}


def _record_consent(item: EmailQueueItem, action: str, method: str, visit: Visit | None) -> None:
    address = EmailAddress.objects.filter(pk=item.email_address_id).first()
    client = visit.client_hash if visit is not None else ""
    source = str(item.mass_email)
    consent.record(
        action, method, address=address, person=item.target, source=source, client=client
    )


def opt_out(
    item: EmailQueueItem, *, via: str, visit: Visit | None = None, consent_method: str = ""
) -> bool:
    """Unsubscribe the item's person; logs Opted Out once per item.

    `via` is the TrackingHit kind ("opt_out" for the page, "one_click" for RFC 8058). With a
    `visit`, the request is recorded as a hit too, classified by the machine rules for the
    reports; the rules never stop an unsubscribe (a request that reached here carried the
    page's CSRF token or RFC 8058's body). Returns True: the person is unsubscribed by this call
    or already was. A first opt-out is kept as a consent record (`consent_method`, default by
    `via`). Raises NotSubscribable for an informational campaign.
    """
    _check(item)
    with transaction.atomic():
        if visit is not None:
            add_hit(item, via, visit)
        if not is_opted_out(item):
            method = consent_method or CONSENT_METHODS.get(via, consent.Method.ESP)
            _record_consent(item, consent.Action.OPT_OUT, method, visit)
            if not item.is_test:
                events.record_events([event_of(events.EMAIL_UNSUBSCRIBED, item, via=via)])
        opt_out_entries(_entries_of(item))
        if item.mass_email.opt_out_entirely and item.email_address_id:
            chosen = EmailAddress.objects.filter(pk=item.email_address_id)
            suppression.flag_addresses(chosen, "opted_out", via=via or "esp")
        add_log_records([log_record(item, CampaignLogRecord.Action.OPTED_OUT)])


def subscribe_again(item: EmailQueueItem) -> bool:
    """Undo `opt_out` for the item: entries, the address (with opt out entirely), the log record.

    Returns True when something changed. Raises NotSubscribable for an informational campaign.
    """
    _check(item)
    with transaction.atomic():
        changed = _entries_of(item).filter(opted_out=True).update(opted_out=False)
        if item.mass_email.opt_out_entirely and item.email_address_id:
            address = EmailAddress.objects.filter(pk=item.email_address_id, opt_out=True)
            changed += address.update(opt_out=False)
        deleted, _by_model = CampaignLogRecord.objects.filter(
            queue_item=item, action=CampaignLogRecord.Action.OPTED_OUT
        ).delete()
        if changed + deleted:
            _record_consent(item, consent.Action.OPT_IN, consent.Method.PAGE, None)
    return changed + deleted > 0


def is_opted_out(item: EmailQueueItem) -> bool:
    """Whether the item's opt-out stands (its Opted Out record exists)."""
    return CampaignLogRecord.objects.filter(
        queue_item=item, action=CampaignLogRecord.Action.OPTED_OUT
    ).exists()
