"""Ending enrolments before their end (an exit), each with a "Left automation" record, and its
reason, in the log of the automation's campaign. Set-based: a read, an update and an insert,
whatever the number of people."""

import datetime

from django.db import connection, transaction
from django.db.models import QuerySet

from automation import people as persons
from automation.models import Enrolment
from campaigns.models import CampaignLogRecord

ACTIVE = Enrolment.Status.ACTIVE


def end(enrolments: QuerySet, reason: str, now: datetime.datetime) -> int:
    """End the active ones of `enrolments` for `reason` (an Enrolment.Reason) and log each
    exit in its automation's campaign log; how many ended."""
    with transaction.atomic():
        active = enrolments.filter(status=ACTIVE).order_by("id")
        if connection.vendor == "postgresql":  # a tick running one of them finishes first
            active = active.select_for_update(of=("self",))
        rows = list(active.values_list("id", "automation__campaign_id", "person_type", "person_id"))
        ended = Enrolment.objects.filter(pk__any_of=[row[0] for row in rows], status=ACTIVE).update(
            status=Enrolment.Status.EXITED,
            exit_reason=reason,
            step=None,
            finished_at=now,
            due_at=None,
            leased_until=None,
            leased_by="",
        )
        log_exits([row[1:] for row in rows], reason)
    return ended


def log_exits(exits: list[tuple[int, str, int]], reason: str) -> None:
    """Add a "Left automation" record per (campaign id, person type, person id), with the
    person's address as it is now (none for a person deleted)."""
    if not exits:
        return
    addresses = _addresses({(kind, pk) for _campaign, kind, pk in exits})
    records = []
    for campaign_id, kind, pk in exits:
        record = CampaignLogRecord(
            campaign_id=campaign_id,
            action=CampaignLogRecord.Action.AUTOMATION_EXIT,
            exit_reason=reason,
        )
        if (kind, pk) in addresses:
            record.email_address_id, record.email = addresses[(kind, pk)]
            setattr(record, f"{kind}_id", pk)
        records.append(record)
    CampaignLogRecord.objects.bulk_create(records, batch_size=500)


def _addresses(people: set[persons.Person]) -> dict:
    """(type, id) → (address id, address) of those of `people` who exist: a read per type."""
    found = {}
    models = persons.models_by_type()
    for kind in {kind for kind, _pk in people}:
        ids = [pk for each_kind, pk in people if each_kind == kind]
        if kind == "user":
            for pk, email in models[kind].objects.filter(pk__any_of=ids).values_list("pk", "email"):
                found[(kind, pk)] = (None, email)
        elif kind in models:
            rows = models[kind].objects.filter(pk__any_of=ids)
            for pk, address_id, address in rows.values_list(
                "pk", "email_address_id", "email_address__address"
            ):
                found[(kind, pk)] = (address_id, address or "")
    return found
