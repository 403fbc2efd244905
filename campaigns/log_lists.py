"""New target lists from a campaign's log (§8): e.g. everybody who clicked but did not opt out."""

from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.models import Campaign, CampaignLogRecord
from crm.models import TargetFields
from targetlists.models import TargetList, TargetListEntry


class NoActionsToInclude(ValueError):
    """A list from the log needs at least one action to include."""


def people_from_log(campaign: Campaign, field: str, include: list[str], exclude: list[str]):
    """Distinct `person_id`s: the `field` ids (e.g. contact ids) of non-test people of
    `campaign` with an `include` action and no `exclude` action."""
    log = CampaignLogRecord.objects.filter(campaign=campaign, is_test=False)
    people = log.filter(action__in=include, **{f"{field}__isnull": False})
    if exclude:
        excluded = log.filter(action__in=exclude, **{field: OuterRef(field)})
        people = people.exclude(Exists(excluded))
    return people.order_by().values(person_id=F(field)).distinct()


def create_target_list_from_log(
    campaign: Campaign,
    name: str,
    include_actions: Iterable[str],
    exclude_actions: Iterable[str] = (),
) -> TargetList:
    """Create a target list of every non-test person of `campaign` with an included action and
    no excluded action, with one INSERT … SELECT per kind of person.

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
            select, params = people_from_log(
                campaign, field, include, exclude
            ).query.sql_with_params()
            column = TargetListEntry._meta.get_field(field).column
            # Table and column names come from the models; every value is a bound parameter.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (target_list_id, {column}, opted_out, added_at) "
                    f"SELECT %s, people.person_id, %s, %s FROM ({select}) AS people",
                    [target_list.pk, False, now, *params],
                )
    return target_list
