"""New target lists from a campaign's log (§8): e.g. everybody who clicked but did not opt out."""

from collections.abc import Iterable

from django.apps import apps
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.models import Campaign, CampaignLogRecord
from crm.models import TargetFields
from targetlists.models import TargetList, TargetListEntry

Action = CampaignLogRecord.Action


class NoActionsToInclude(ValueError):
    """A list from the log needs at least one action to include."""


def human_records(records: QuerySet) -> QuerySet:
    """`records` without the Opened and Clicked ones that only machines' hits back (a privacy
    proxy's prefetch, a link scanner); hits are read through the app registry."""
    hits = apps.get_model("tracking", "TrackingHit").objects.filter(
        queue_item_id=OuterRef("queue_item_id"), is_machine=False, is_test=False
    )
    opened = Exists(hits.filter(kind__in=("open", "click")))
    clicked = Exists(hits.filter(kind="click", tracking_url_id=OuterRef("tracking_url_id")))
    tracked = Q(action=Action.OPENED) | Q(action=Action.CLICKED)
    return records.filter(
        ~tracked
        | Q(action=Action.OPENED, pk__in=records.filter(opened).values("pk"))
        | Q(action=Action.CLICKED, pk__in=records.filter(clicked).values("pk"))
    )


def people_from_log(
    campaign: Campaign,
    field: str,
    include: list[str],
    exclude: list[str],
    within: QuerySet | None = None,
    humans_only: bool = False,
):
    """Distinct `person_id`s: the `field` ids (e.g. contact ids) of non-test people of
    `campaign` with an `include` action (among the records `within`, when given; backed by a
    person's hit for opens and clicks when `humans_only`) and no `exclude` action."""
    log = CampaignLogRecord.objects.filter(campaign=campaign, is_test=False)
    people = log.filter(action__in=include, **{f"{field}__isnull": False})
    if within is not None:
        people = people.filter(pk__in=within.order_by().values("pk"))
    if humans_only:
        people = human_records(people)
    if exclude:
        excluded = log.filter(action__in=exclude, **{field: OuterRef(field)})
        people = people.exclude(Exists(excluded))
    return people.order_by().values(person_id=F(field)).distinct()


def create_target_list_from_log(
    campaign: Campaign,
    name: str,
    include_actions: Iterable[str],
    exclude_actions: Iterable[str] = (),
    within: QuerySet | None = None,
    humans_only: bool = False,
) -> TargetList:
    """Create a target list of every non-test person of `campaign` with an included action and
    no excluded action, with one INSERT … SELECT per kind of person. `within` (log records,
    e.g. the log page's filtered list) and `humans_only` narrow the included records.

    Raises NoActionsToInclude when `include_actions` is empty.
    """
    include, exclude = list(include_actions), list(exclude_actions)
    if not include:
        raise NoActionsToInclude("choose at least one action to include")
    table = TargetListEntry._meta.db_table
    with transaction.atomic():
        description = gettext("From the log of the campaign %(name)s.") % {"name": campaign.name}
        target_list = TargetList.objects.create(name=name, description=description)
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        for field in TargetFields.TARGET_FIELDS:
            people = people_from_log(campaign, field, include, exclude, within, humans_only)
            select, params = people.query.sql_with_params()
            column = TargetListEntry._meta.get_field(field).column
            # Table and column names come from the models; every value is a bound parameter.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (target_list_id, {column}, opted_out, added_at) "
                    f"SELECT %s, people.person_id, %s, %s FROM ({select}) AS people",
                    [target_list.pk, False, now, *params],
                )
    return target_list
