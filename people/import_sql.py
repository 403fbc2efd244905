"""Writing checked rows in batches: a few set-based statements per batch, never one per row.

For each batch (people.import_run hands over 20,000 checked rows at a time):
- the batch's addresses are looked up in one query; the new ones get ids from the table's
  sequence and are written in one COPY (PostgreSQL) or executemany (SQLite);
- the records that already use one of the addresses are found in one query. They are skipped,
  or their empty fields filled, or overwritten, as the import chose (merged here, written by
  people.bulk.update_rows: one COPY and one UPDATE). New records are written like the
  addresses, with the ids known ahead;
- list entries are added for everyone not yet on the list, consent records written, and what
  the batch created, added or changed is kept in one ImportedBatch row, for undo.
Another writer adding one of the same addresses or entries meanwhile makes a unique constraint
refuse the batch: it is rolled back to its savepoint and written again, finding that row.
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from crm import events, suppression
from crm.models import Account, ConsentRecord, Contact, EmailAddress, Lead
from people.bulk import Inserter, new_ids, update_rows, where_in
from people.import_rows import STORED
from people.models import ImportedBatch, PeopleImport
from targetlists.models import TargetListEntry

logger = logging.getLogger(__name__)
PERSON_MODELS = {"contact": Contact, "lead": Lead, "account": Account}
SUPPRESSION_FLAGS = {
    PeopleImport.Purpose.OPT_OUT: "opt_out",
    PeopleImport.Purpose.INVALID: "invalid",
}
ATTEMPTS = 3  # writes of one batch that a concurrent writer's new rows can make fail


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    skipped: int = 0


def merged(before, given, overwrite: bool):
    """A field's value after the import: the file's value where it has one and the record's is
    empty (or, overwriting, different); else the record's."""
    if given in ("", None):
        return before
    if overwrite or before in ("", None):
        return given
    return before


class BatchWriter:
    """Writes the batches of one import on the current connection."""

    def __init__(self, people_import: PeopleImport):
        self.people_import = people_import
        self.kind = people_import.kind
        self.model = PERSON_MODELS[self.kind]
        self.flag = SUPPRESSION_FLAGS.get(people_import.purpose)
        self.stored = STORED["suppression" if self.flag else self.kind]
        self.list_id = people_import.target_list_id
        self.insert_addresses = Inserter(
            EmailAddress,
            ("id", "address", "address_lower"),
            {"opt_out": self.flag == "opt_out", "invalid": self.flag == "invalid"},
        )
        self.insert_people = Inserter(self.model, ("id", "email_address_id", *self.stored))
        self.insert_entries = Inserter(
            TargetListEntry, (f"{self.kind}_id",), {"target_list_id": self.list_id}
        )
        consent = {
            "method": ConsentRecord.Method.IMPORT,
            "at": timezone.now(),
            "source": str(people_import)[:255],
        }
        if self.flag:
            consent.update(action=ConsentRecord.Action.OPT_OUT, text="")
            given = ("email_address_id", "email")
        else:
            consent.update(action=ConsentRecord.Action.OPT_IN, text=people_import.consent_text)
            given = ("email_address_id", "email", f"{self.kind}_id")
        self.insert_consent = Inserter(ConsentRecord, given, consent)

    def write(self, rows: list[tuple], first_row: int, last_row: int) -> Counts:
        """Write one batch of checked rows (address, lower-cased address, *stored values), in
        the caller's transaction; its ImportedBatch says it covered the file's rows first_row
        to last_row (0 for a batch that covered none: nothing is kept). Raises IntegrityError
        if concurrent writers keep refusing it."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with transaction.atomic():
                    return self._write(rows, first_row, last_row)
            except IntegrityError:
                if attempt == ATTEMPTS:
                    raise
                logger.info(
                    "import %s: a concurrent writer's rows; the batch again", self.people_import.pk
                )
        raise AssertionError("unreachable")

    def _write(self, rows: list[tuple], first_row: int, last_row: int) -> Counts:
        batch = ImportedBatch(
            people_import=self.people_import, first_row=first_row, last_row=last_row
        )
        counts = Counts()
        if rows:
            with connection.cursor() as cursor:
                found, ids = self._addresses(cursor, rows, batch)
                if self.flag:
                    counts = self._suppress(cursor, rows, found, ids, batch)
                else:
                    counts = self._people(cursor, rows, found, ids, batch)
        if last_row:  # every batch with rows covers some
            batch.save()
        return counts

    def _addresses(self, cursor, rows, batch) -> tuple[dict, dict]:
        """({lower: (id, flag set)} of the addresses that exist, {lower: id} of all of them),
        creating the missing ones."""
        flag = self.flag or "FALSE"
        condition, lowers = where_in("address_lower", [row[1] for row in rows])
        cursor.execute(
            f"SELECT address_lower, id, {flag} FROM {EmailAddress._meta.db_table} "
            f"WHERE {condition}",
            [lowers],
        )
        found = {lower: (pk, bool(is_set)) for lower, pk, is_set in cursor.fetchall()}
        new = [row for row in rows if row[1] not in found]
        batch.addresses = new_ids(cursor, EmailAddress, len(new))
        self.insert_addresses.insert(
            cursor, ((pk, row[0], row[1]) for pk, row in zip(batch.addresses, new, strict=True))
        )
        ids = {lower: pk for lower, (pk, _is_set) in found.items()}
        ids.update((row[1], pk) for pk, row in zip(batch.addresses, new, strict=True))
        return found, ids

    def _suppress(self, cursor, rows, found, ids, batch) -> Counts:
        unflagged = [pk for pk, is_set in found.values() if not is_set]
        if unflagged:
            condition, listed = where_in("id", unflagged)
            cursor.execute(
                f"UPDATE {EmailAddress._meta.db_table} SET {self.flag} = %s "
                f"WHERE {condition} AND {self.flag} = %s RETURNING id",
                [True, listed, False],
            )
            batch.flagged = [row[0] for row in cursor.fetchall()]
            reason = "opted_out" if self.flag == "opt_out" else "invalid"
            suppression.record_flagged(batch.flagged, reason, via="import")
        if self.flag == "opt_out":
            marked = set(batch.addresses) | set(batch.flagged)
            self.insert_consent.insert(
                cursor, ((ids[row[1]], row[0]) for row in rows if ids[row[1]] in marked)
            )
        created, updated = len(batch.addresses), len(batch.flagged)
        return Counts(created=created, updated=updated, skipped=len(rows) - created - updated)

    def _people(self, cursor, rows, found, ids, batch) -> Counts:
        people = self._existing_people(cursor, [ids[lower] for lower in found])
        old, new = [], []  # (person id, address id, row); the new ones' ids are taken below
        for row in rows:
            address_id = ids[row[1]]
            if address_id in people:
                old.append((people[address_id], address_id, row))
            else:
                new.append((address_id, row))
        updated = self._update(cursor, old, batch)
        batch.created = new_ids(cursor, self.model, len(new))
        joined = [
            (pk, address_id, row) for pk, (address_id, row) in zip(batch.created, new, strict=True)
        ]
        self.insert_people.insert(
            cursor, ((pk, address_id, *row[2:]) for pk, address_id, row in joined)
        )
        added = self._add_entries(cursor, joined, old) if self.list_id else []
        batch.added = [pk for pk, _address_id, _row in added]
        self._record_events(joined, added, batch)
        if self.people_import.consent_text:
            consenting = joined + added
            self.insert_consent.insert(
                cursor, ((address_id, row[0], pk) for pk, address_id, row in consenting)
            )
        created = len(batch.created)
        return Counts(created=created, updated=updated, skipped=len(rows) - created - updated)

    def _record_events(self, created: list[tuple], added: list[tuple], batch) -> None:
        """The batch's events in one insert: people created and changed, list members added."""
        kind, via, found = self.kind, {"via": "import", "import_id": self.people_import.pk}, []
        for pk, _address_id, row in created:
            data = {"person": {"type": kind, "id": pk}, "email": row[0], **via}
            found.append(events.NewEvent(events.CONTACT_CREATED, data, (kind, pk)))
        for pk, changed in batch.changes:
            data = {"person": {"type": kind, "id": pk}, "changed": sorted(changed), **via}
            found.append(events.NewEvent(events.CONTACT_UPDATED, data, (kind, pk)))
        if self.list_id:
            for pk, _address_id, row in created + added:
                data = {"person": {"type": kind, "id": pk}, "email": row[0]}
                data |= {"list_id": self.list_id, **via}
                found.append(events.NewEvent(events.LIST_MEMBER_ADDED, data, (kind, pk)))
        events.record_events(found)

    def _existing_people(self, cursor, address_ids: list[int]) -> dict[int, int]:
        """{address id: id of the oldest record with it} among `address_ids`."""
        if not address_ids:
            return {}
        condition, listed = where_in("email_address_id", address_ids)
        cursor.execute(
            f"SELECT email_address_id, MIN(id) FROM {self.model._meta.db_table} "
            f"WHERE {condition} GROUP BY email_address_id",
            [listed],
        )
        return dict(cursor.fetchall())

    def _update(self, cursor, old: list[tuple], batch) -> int:
        """Fill or overwrite the existing records' fields; how many changed."""
        duplicates = self.people_import.duplicates
        if duplicates == PeopleImport.Duplicates.SKIP or not old:
            return 0
        table, names = self.model._meta.db_table, self.stored
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        condition, listed = where_in("id", [pk for pk, _address_id, _row in old])
        cursor.execute(
            f"SELECT id, {', '.join(names)} FROM {table} WHERE {condition}{lock}", [listed]
        )
        current = {row[0]: row[1:] for row in cursor.fetchall()}
        overwrite = duplicates == PeopleImport.Duplicates.OVERWRITE
        writes = []
        for pk, _address_id, row in old:
            before = current[pk]
            after = tuple(merged(b, g, overwrite) for b, g in zip(before, row[2:], strict=True))
            if after != before:
                writes.append((pk, *after))
                changed = {
                    n: [b, a] for n, b, a in zip(names, before, after, strict=True) if b != a
                }
                batch.changes.append([pk, changed])
        update_rows(cursor, self.model, names, writes)
        return len(writes)

    def _add_entries(self, cursor, created: list[tuple], old: list[tuple]) -> list[tuple]:
        """Put the created records and the existing ones not on it yet on the import's list;
        the existing ones it added."""
        column = f"{self.kind}_id"
        listed_already = set()
        if old:
            condition, listed = where_in(column, [pk for pk, _address_id, _row in old])
            cursor.execute(
                f"SELECT {column} FROM {TargetListEntry._meta.db_table} "
                f"WHERE target_list_id = %s AND {condition}",
                [self.list_id, listed],
            )
            listed_already = {row[0] for row in cursor.fetchall()}
        added = [entry for entry in old if entry[0] not in listed_already]
        self.insert_entries.insert(cursor, ((entry[0],) for entry in created + added))
        return added
