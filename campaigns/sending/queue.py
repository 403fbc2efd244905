"""Building the queue of a mass email: one Pending item per recipient (spec §3).

The queue is built by a handful of set-based SQL statements per mass email, whatever the size of
its target lists: memory stays flat and the database does the de-duplication. The same SQL runs
on SQLite (≥ 3.24: ON CONFLICT, window functions) and PostgreSQL.

Who is a recipient: every record of the target lists, in list order (the order the lists were
added to the mass email, then entry order), skipping entries opted out of their list (unless the
campaign is Informational), records with no address, and addresses already taken by an earlier
entry: the first entry wins. Excluded are every address used by a record of an excluding list,
whatever its opted-out state, so a Lead in an excluding list also removes a Contact with the same
address. Addresses flagged opt_out (unless Informational) or invalid are dropped. Addresses
compare lower-cased: EmailAddress rows are unique by lower-cased address, so rows are compared.
"""

import datetime
import logging
from dataclasses import dataclass

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns.models import CampaignLogRecord, CampaignStatus, EmailQueueItem, MassEmail
from crm import events
from crm.models import Account, Contact, EmailAddress, Lead
from targetlists.models import TargetListEntry

logger = logging.getLogger(__name__)
Item = EmailQueueItem.Status


@dataclass(frozen=True)
class QueueResult:
    """What building the queue of one mass email did, for the sending job to log."""

    mass_email_id: int
    queued: int = 0
    status: str = ""  # the mass email's status afterwards
    skipped: str = ""  # why nothing was built; empty when the queue was built

    @property
    def built(self) -> bool:
        return not self.skipped


def build_due_queues(now=None) -> list[QueueResult]:
    """Build the queue of every Pending mass email whose start time has come (or is empty).

    A mass email whose build fails with a database error is logged, reported as skipped and
    stays Pending for the next run; the others are still built.
    """
    now = now or timezone.now()
    due = (
        MassEmail.objects.filter(status=MassEmail.Status.PENDING)
        .filter(Q(start_at__isnull=True) | Q(start_at__lte=now))
        .order_by(F("start_at").asc(nulls_first=True), "id")
    )
    results = []
    for mass_email in due:
        try:
            results.append(build_queue(mass_email))
        except DatabaseError as exc:
            logger.exception("Building the queue of mass email %s failed", mass_email.pk)
            results.append(QueueResult(mass_email.pk, status=mass_email.status, skipped=str(exc)))
    return results


def build_queue(mass_email: MassEmail) -> QueueResult:
    """Queue one Pending item per recipient of `mass_email`; it becomes In Process or Complete.

    Re-runnable: earlier Pending and Failed items are replaced, Sent and Sending items are kept
    and their addresses are not queued again. Nothing happens (the result says why) when the
    mass email is no longer Pending or its campaign is Inactive. Raises DatabaseError only on
    database failures, with everything rolled back.
    """
    with transaction.atomic():
        # The row lock makes a second job run wait, then see the status it left: never built twice.
        locked = (
            MassEmail.objects.select_for_update(of=("self",))
            .select_related("campaign")
            .get(pk=mass_email.pk)
        )
        skipped = _reason_to_skip(locked)
        if skipped:
            mass_email.status = locked.status
            logger.info("Mass email %s: queue not built: %s", locked.pk, skipped)
            return QueueResult(locked.pk, status=locked.status, skipped=skipped)
        informational = locked.campaign.is_informational
        _add_user_addresses(locked.pk)
        _remove_unsent_items(locked.pk)
        split = Split.of(locked)
        queued = _insert_recipients(locked.pk, informational, split, _follow_up(locked))
        status = _status_after_build(locked.pk, queued)
        changes = {"status": status}
        if split.variant_ids and not locked.test_state:
            changes["test_state"] = MassEmail.TestState.TESTING
        MassEmail.objects.filter(pk=locked.pk).update(**changes)
        if locked.test_state == MassEmail.TestState.DECIDED and locked.test_winner_id:
            # Rebuilt after the decision: whoever is new gets the winner at once.
            release_held(locked.pk, locked.test_winner_id)
        data = {"mass_email_id": locked.pk, "campaign_id": locked.campaign_id}
        events.record_events(
            [events.NewEvent(events.MASS_EMAIL_STARTED, data | {"recipients": queued})]
            + ([events.NewEvent(events.MASS_EMAIL_COMPLETED, data)] if status == "complete" else [])
        )
    mass_email.status = status
    logger.info("Mass email %s: %d recipients queued, now %s", locked.pk, queued, status)
    return QueueResult(locked.pk, queued=queued, status=status)


def _reason_to_skip(mass_email: MassEmail) -> str:
    if mass_email.status != MassEmail.Status.PENDING:
        return f"its status is {mass_email.status}, not pending"
    if mass_email.campaign.status == CampaignStatus.INACTIVE:
        return "its campaign is inactive"
    return ""


def _status_after_build(mass_email_id: int, queued: int) -> str:
    # Items left Sending by an earlier run still need the sender to settle them.
    sending = EmailQueueItem.objects.filter(
        mass_email_id=mass_email_id, is_test=False, status=Item.SENDING
    )
    if queued or sending.exists():
        return MassEmail.Status.IN_PROCESS
    return MassEmail.Status.COMPLETE


def _add_user_addresses(mass_email_id: int) -> None:
    """Give every user in the target lists an EmailAddress row, so users join like the others.

    Django's User keeps its address as text; the shared row is found by its lower-cased form.
    """
    user = get_user_model()
    defaults = RowDefaults(EmailAddress, given={"address", "address_lower"})
    sql = f"""
        INSERT INTO {_table(EmailAddress)} (address, address_lower{defaults.columns})
        SELECT MIN(TRIM(u.email)), LOWER(TRIM(u.email)){defaults.values}
        FROM {_table(user)} u
        WHERE TRIM(u.email) <> '' AND u.id IN (
            SELECT e.user_id
            FROM {_table(TargetListEntry)} e
            JOIN {_through("target_lists")} t ON t.targetlist_id = e.target_list_id
            WHERE t.massemail_id = %(mass_email)s AND e.user_id IS NOT NULL
        )
        GROUP BY LOWER(TRIM(u.email))
        ON CONFLICT DO NOTHING
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"mass_email": mass_email_id, **defaults.params})


def _remove_unsent_items(mass_email_id: int) -> None:
    """Delete earlier Pending and Failed items; rows pointing at them (log records) are kept.

    Done in SQL rather than QuerySet.delete(), which would load every item into memory.
    """
    unsent = EmailQueueItem.objects.filter(
        mass_email_id=mass_email_id,
        is_test=False,
        status__in=[Item.PENDING, Item.FAILED, Item.HELD],
    )
    for relation in EmailQueueItem._meta.related_objects:
        related = relation.related_model._base_manager.filter(
            **{f"{relation.field.name}__in": unsent.values("pk")}
        )
        if relation.on_delete is models.SET_NULL:
            related.update(**{relation.field.name: None})
        else:
            related.delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""DELETE FROM {_table(EmailQueueItem)}
                WHERE mass_email_id = %s AND is_test = %s AND status IN (%s, %s, %s)""",
            [mass_email_id, False, Item.PENDING, Item.FAILED, Item.HELD],
        )


# The A/B split: a number from the recipient's address and the mass email, the same whenever it
# is computed, on SQLite and PostgreSQL alike (64-bit integer arithmetic). Its last four digits
# decide whether the recipient is in the test share, the digits above them which variant.
SPLIT_HASH = "((a.id * 2654435761 + CAST(%(mass_email)s AS BIGINT) * 40503) %% 4294967291)"


@dataclass(frozen=True)
class Split:
    """Who gets which variant: `cut` of every 10,000 recipients are tested, split evenly
    between `variant_ids` (in letter order); the others are Held for the winner."""

    variant_ids: tuple[int, ...] = ()
    cut: int = 10_000

    @classmethod
    def of(cls, mass_email: MassEmail) -> "Split":
        ids = tuple(mass_email.variants.order_by("letter").values_list("pk", flat=True))
        if len(ids) < 2:
            return cls()
        return cls(ids, mass_email.test_share * 100)

    def columns(self) -> tuple[str, str, str, dict]:
        """SQL for the variant_id, in_test and status columns, and their parameters."""
        params = {"held": Item.HELD, "pending": Item.PENDING, "true": True, "false": False}
        if not self.variant_ids:
            return "NULL", "%(false)s", "%(pending)s", params
        in_test = f"({SPLIT_HASH} %% 10000 < %(test_cut)s)"
        whens = " ".join(f"WHEN {n} THEN %(variant_{n})s" for n in range(len(self.variant_ids)))
        count = len(self.variant_ids)
        variant = f"CASE WHEN {in_test} THEN CASE ({SPLIT_HASH} / 10000) %% {count} {whens} END END"
        params["test_cut"] = self.cut
        params.update({f"variant_{n}": pk for n, pk in enumerate(self.variant_ids)})
        return (
            variant,
            f"CASE WHEN {in_test} THEN %(true)s ELSE %(false)s END",
            f"CASE WHEN {in_test} THEN %(pending)s ELSE %(held)s END",
            params,
        )


def release_held(mass_email_id: int, winner_id: int) -> int:
    """Give every Held item of the mass email the winner and make it Pending; how many."""
    return EmailQueueItem.objects.filter(
        mass_email_id=mass_email_id, is_test=False, status=Item.HELD
    ).update(status=Item.PENDING, variant_id=winner_id)


@dataclass(frozen=True)
class FollowUp:
    """A follow-up's recipients: who got `original` before `cutoff` and did not open it."""

    original_id: int
    cutoff: datetime.datetime


def _follow_up(mass_email: MassEmail) -> FollowUp | None:
    if not mass_email.follow_up_of_id:
        return None
    hours = datetime.timedelta(hours=mass_email.follow_up_hours or 0)
    return FollowUp(mass_email.follow_up_of_id, timezone.now() - hours)


def _follow_up_targeted(target_columns: str) -> str:
    """A CTE's body like `targeted`: the original's recipients who got it before the cutoff,
    with no person's open or click (a click counts as an open; machines' hits do not), and no
    opt-out, bounce or complaint of their address since it was sent (from any campaign)."""
    hits = apps.get_model("tracking", "TrackingHit")
    return f"""
            SELECT q.id AS list_order, q.id AS entry_id, {_prefixed("q", target_columns)},
                   q.email_address_id AS email_address_id
            FROM {_table(EmailQueueItem)} q
            WHERE q.mass_email_id = %(original)s AND q.is_test = %(false)s
              AND q.status = %(sent)s AND q.sent_at <= %(cutoff)s
              AND NOT EXISTS (
                  SELECT 1 FROM {_table(hits)} h
                  WHERE h.queue_item_id = q.id AND h.is_machine = %(false)s
                    AND h.kind IN ('open', 'click')
              )
              AND NOT EXISTS (
                  SELECT 1 FROM {_table(CampaignLogRecord)} l
                  WHERE l.email_address_id = q.email_address_id
                    AND l.action IN (%(opted_out)s, %(bounced)s)
                    AND l.action_date >= q.sent_at AND l.is_test = %(false)s
              )
    """


def _insert_recipients(
    mass_email_id: int,
    informational: bool,
    split: Split | None = None,
    follow_up: FollowUp | None = None,
    count_only: bool = False,
) -> int:
    """Insert one item per recipient in one INSERT … SELECT; returns how many. With an A/B
    `split`, each gets its variant or is Held; a `follow_up` takes its recipients from the
    original mass email instead of target lists. `count_only`: count them, insert nothing."""
    target_columns = "account_id, contact_id, lead_id, user_id"
    variant, in_test, status, split_params = (split or Split()).columns()
    defaults = RowDefaults(
        EmailQueueItem,
        given={
            "mass_email_id",
            "email_address_id",
            "email",
            "variant_id",
            "in_test",
            "status",
            *target_columns.split(", "),
        },
    )
    if follow_up is None:
        targeted = f"""
            SELECT t.id AS list_order, e.id AS entry_id, {_prefixed("e", target_columns)},
                   {_ENTRY_ADDRESS} AS email_address_id
            FROM {_through("target_lists")} t
            JOIN {_table(TargetListEntry)} e ON e.target_list_id = t.targetlist_id
            {_entry_address_joins()}
            WHERE t.massemail_id = %(mass_email)s
              AND (%(informational)s OR NOT e.opted_out)
        """
        follow_params = {}
    else:
        targeted = _follow_up_targeted(target_columns)
        follow_params = {
            "original": follow_up.original_id,
            "cutoff": follow_up.cutoff,
            "sent": Item.SENT,
            "opted_out": CampaignLogRecord.Action.OPTED_OUT,
            "bounced": CampaignLogRecord.Action.BOUNCED,
        }
    head = f"""
        INSERT INTO {_table(EmailQueueItem)}
            (mass_email_id, {target_columns}, email_address_id, email,
             variant_id, in_test, status{defaults.columns})
    """
    body = f"""
        WITH
        -- Step 4: the entries of the target lists, in list order, with the address they use.
        targeted AS ({targeted}),
        -- Step 3: every address of every record of the excluding lists, opted out or not.
        -- Excluding by address also excludes the records themselves: each has one address.
        excluded AS ({_excluded()}),
        -- First wins: rank the entries sharing an address (so also the same record twice).
        ranked AS (
            SELECT targeted.*, ROW_NUMBER() OVER (
                PARTITION BY email_address_id ORDER BY list_order, entry_id
            ) AS address_rank
            FROM targeted
            WHERE email_address_id IS NOT NULL
              AND email_address_id NOT IN (
                  SELECT email_address_id FROM excluded WHERE email_address_id IS NOT NULL
              )
        )
        -- Steps 5 and 6: drop flagged addresses and those already sent; one item per recipient.
        SELECT %(mass_email)s, {_prefixed("r", target_columns)}, a.id, a.address,
               {variant}, {in_test}, {status}{defaults.values}
        FROM ranked r
        JOIN {_table(EmailAddress)} a ON a.id = r.email_address_id
        WHERE r.address_rank = 1
          AND NOT a.invalid
          AND (%(informational)s OR NOT a.opt_out)
          AND NOT EXISTS (
              SELECT 1 FROM {_table(EmailQueueItem)} q
              WHERE q.mass_email_id = %(mass_email)s AND q.email_address_id = a.id
                AND q.is_test = %(false)s
          )
        ORDER BY r.list_order, r.entry_id
    """
    sql = f"SELECT COUNT(*) FROM ({body}) counted" if count_only else head + body
    params = {
        "mass_email": mass_email_id,
        "informational": informational,
        "false": False,
        **split_params,
        **follow_params,
        **defaults.params,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0] if count_only else cursor.rowcount


# The address an entry's record uses: its own row, or for a user the row of its email text.
_ENTRY_ADDRESS = "COALESCE(ac.email_address_id, co.email_address_id, le.email_address_id, ua.id)"


def _entry_address_joins() -> str:
    return f"""
        LEFT JOIN {_table(Account)} ac ON ac.id = e.account_id
        LEFT JOIN {_table(Contact)} co ON co.id = e.contact_id
        LEFT JOIN {_table(Lead)} le ON le.id = e.lead_id
        LEFT JOIN {_table(get_user_model())} us ON us.id = e.user_id
        LEFT JOIN {_table(EmailAddress)} ua ON ua.address_lower = LOWER(TRIM(us.email))
    """


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _through(field_name: str) -> str:
    """The mass email's M2M table to target lists; its columns are massemail_id, targetlist_id."""
    return _table(MassEmail._meta.get_field(field_name).remote_field.through)


def _excluded() -> str:
    """A CTE's body: every address of every record of the excluding lists, opted out or not;
    the queue and the recipient count leave out the same people."""
    return f"""
            SELECT {_ENTRY_ADDRESS} AS email_address_id
            FROM {_through("excluding_target_lists")} t
            JOIN {_table(TargetListEntry)} e ON e.target_list_id = t.targetlist_id
            {_entry_address_joins()}
            WHERE t.massemail_id = %(mass_email)s
        """


def _prefixed(alias: str, columns: str) -> str:
    return ", ".join(f"{alias}.{column}" for column in columns.split(", "))


class RowDefaults:
    """Every other column of `model` with its model default, for a raw INSERT … SELECT
    (`columns` and `values` each start with ", "; `params` for the values). So a field added
    later with a default needs no change here. `now` fills auto_now fields (default: now)."""

    def __init__(self, model: type[models.Model], given: set[str], now=None) -> None:
        now = now or timezone.now()
        columns, values, self.params = [], [], {}
        for field in model._meta.concrete_fields:
            if field.primary_key or field.column in given or field.has_db_default():
                continue
            auto_now = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
            value = now if auto_now else field.get_default()
            columns.append(connection.ops.quote_name(field.column))
            if value is None:
                values.append("NULL")
            else:
                values.append(f"%(default_{field.column})s")
                self.params[f"default_{field.column}"] = field.get_db_prep_save(value, connection)
        self.columns = "".join(f", {column}" for column in columns)
        self.values = "".join(f", {value}" for value in values)


@dataclass(frozen=True)
class RecipientCount:
    """Who would receive a mass email if its queue were built now, and who is left out, why."""

    receives: int = 0
    excluded: int = 0  # the address is used by a record of an excluding list
    list_opted_out: int = 0  # the entry is opted out of its target list
    opted_out: int = 0  # the address is opted out of all mass email
    invalid: int = 0  # the address is marked invalid (hard bounces)
    no_address: int = 0  # the record has no email address
    duplicate: int = 0  # the address was already taken by an earlier entry
    already_sent: int = 0  # sent (or being sent) by an earlier build of this mass email

    @property
    def left_out(self) -> int:
        return self.total - self.receives

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in self.__dataclass_fields__)


def count_recipients(mass_email: MassEmail) -> RecipientCount:
    """Count, with the queue's own SQL (the CTEs of _insert_recipients, the same rules in the
    same order), who `build_queue` would queue now and why each other entry is left out.

    Users of a list whose address has no EmailAddress row yet (build_queue creates it) count as
    receiving: a new row is neither invalid nor opted out. Only reads. A follow-up counts the
    recipients its queue would take from the original mass email now.
    """
    follow_up = _follow_up(mass_email)
    if follow_up is not None:
        informational = mass_email.campaign.is_informational
        found = _insert_recipients(mass_email.pk, informational, None, follow_up, count_only=True)
        return RecipientCount(receives=found)
    sql = f"""
        WITH
        targeted AS (
            SELECT t.id AS list_order, e.id AS entry_id, e.opted_out AS entry_opted_out,
                   {_ENTRY_ADDRESS} AS email_address_id, COALESCE(TRIM(us.email), '') AS user_email
            FROM {_through("target_lists")} t
            JOIN {_table(TargetListEntry)} e ON e.target_list_id = t.targetlist_id
            {_entry_address_joins()}
            WHERE t.massemail_id = %(mass_email)s
        ),
        excluded AS ({_excluded()}),
        classified AS (
            SELECT targeted.*, CASE
                WHEN NOT %(informational)s AND entry_opted_out THEN 'list_opted_out'
                WHEN email_address_id IS NULL AND user_email = '' THEN 'no_address'
                WHEN email_address_id IS NULL THEN 'receives'
                WHEN email_address_id IN (
                    SELECT email_address_id FROM excluded WHERE email_address_id IS NOT NULL
                ) THEN 'excluded'
                END AS reason
            FROM targeted
        ),
        ranked AS (
            SELECT classified.*, ROW_NUMBER() OVER (
                PARTITION BY email_address_id ORDER BY list_order, entry_id
            ) AS address_rank
            FROM classified
            WHERE reason IS NULL
        )
        SELECT reason, COUNT(*) FROM (
            SELECT reason FROM classified WHERE reason IS NOT NULL
            UNION ALL
            SELECT CASE
                WHEN r.address_rank > 1 THEN 'duplicate'
                WHEN a.invalid THEN 'invalid'
                WHEN NOT %(informational)s AND a.opt_out THEN 'opted_out'
                WHEN EXISTS (
                    SELECT 1 FROM {_table(EmailQueueItem)} q
                    WHERE q.mass_email_id = %(mass_email)s AND q.email_address_id = a.id
                      AND q.is_test = %(false)s AND q.status IN (%(sent)s, %(sending)s)
                ) THEN 'already_sent'
                ELSE 'receives' END AS reason
            FROM ranked r
            JOIN {_table(EmailAddress)} a ON a.id = r.email_address_id
        ) counted
        GROUP BY reason
    """
    params = {
        "mass_email": mass_email.pk,
        "informational": mass_email.campaign.is_informational,
        "false": False,
        "sent": Item.SENT,
        "sending": Item.SENDING,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return RecipientCount(**dict(cursor.fetchall()))
