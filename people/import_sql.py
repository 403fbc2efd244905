"""Writing checked rows in batches with a few set-based statements, never one query per row.

Each batch goes into a temporary staging table (PostgreSQL: COPY; SQLite: one executemany),
then: addresses are created where missing (ON CONFLICT), existing records are found by address,
updated or skipped as chosen, new records are inserted in one INSERT … SELECT, list entries
added in another, and what the batch added is kept in ImportedRow for undo.
"""

import logging
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from crm.models import Account, ConsentRecord, Contact, EmailAddress, Lead
from people.import_rows import STORED
from people.models import ImportedRow, PeopleImport
from targetlists.models import TargetListEntry

STAGE = "people_import_stage"
TEMP_BUFFERS = "64MB"
logger = logging.getLogger(__name__)
PERSON_MODELS = {"contact": Contact, "lead": Lead, "account": Account}


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    skipped: int = 0

    def add(self, other: "Counts") -> None:
        self.created += other.created
        self.updated += other.updated
        self.skipped += other.skipped


def _db_now():
    from django.db.models import DateTimeField

    return DateTimeField().get_db_prep_value(timezone.now(), connection)


class Stage:
    """The temporary table of one import run on the current connection."""

    def __init__(self, people_import: PeopleImport):
        self.people_import = people_import
        self.kind = "suppression" if people_import.is_suppression else people_import.kind
        self.stored = STORED[self.kind]
        self.postgres = connection.vendor == "postgresql"
        self.load_columns = ("address", "address_lower", *self.stored)

    def __enter__(self) -> "Stage":
        columns = ", ".join(
            f"{name} BIGINT" if name == "account_id" else f"{name} TEXT"
            for name in self.load_columns
        )
        with connection.cursor() as cursor:
            if self.postgres:
                self._enough_temp_buffers(cursor)
            cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {STAGE} ({columns}, address_id BIGINT, person_id BIGINT, "
                "address_new BOOLEAN DEFAULT FALSE, is_new BOOLEAN DEFAULT FALSE, "
                "entry_new BOOLEAN DEFAULT FALSE)"
            )
        return self

    def _enough_temp_buffers(self, cursor) -> None:
        """A batch and its updated row versions fit in memory (the default 8 MB spills to
        disk). PostgreSQL allows this only before the session's first temporary table, so a
        connection that made one already keeps the value it has."""
        cursor.execute("SHOW temp_buffers")
        if cursor.fetchone()[0] == TEMP_BUFFERS:
            return
        try:
            with transaction.atomic():
                cursor.execute(f"SET temp_buffers = '{TEMP_BUFFERS}'")
        except DatabaseError:
            logger.info("temp_buffers stays as it is: this session used temporary tables")

    def __exit__(self, *exc_info) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")

    def load(self, cursor, rows: list[tuple]) -> None:
        names = ", ".join(self.load_columns)
        if self.postgres:
            with cursor.copy(f"COPY {STAGE} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(self.load_columns))
            cursor.executemany(f"INSERT INTO {STAGE} ({names}) VALUES ({marks})", rows)

    def write(self, rows: list[tuple]) -> Counts:
        """Import one batch of checked rows (inside the caller's transaction)."""
        with connection.cursor() as cursor:
            self.load(cursor, rows)
            if self.postgres:
                # A batch touches a few thousand rows of tables holding millions: look each up
                # by index. A hash or merge join would read the whole table for every batch,
                # so an import would slow down quadratically as the tables grow.
                cursor.execute("SET LOCAL enable_hashjoin = off")
                cursor.execute("SET LOCAL enable_mergejoin = off")
                # Those plans look costly to the planner, which would then JIT-compile every
                # statement of every batch: more time than the statement itself.
                cursor.execute("SET LOCAL jit = off")
            self._addresses(cursor)
            if self.kind == "suppression":
                counts = self._suppress(cursor)
            else:
                counts = self._people(cursor)
            self._remember(cursor)
            # TRUNCATE, not DELETE: nothing vacuums a temporary table, and every statement of
            # the next batches would scan the dead rows again.
            cursor.execute(f"{'TRUNCATE' if self.postgres else 'DELETE FROM'} {STAGE}")
        return counts

    def _addresses(self, cursor) -> None:
        table = EmailAddress._meta.db_table
        purpose = self.people_import.purpose
        opt_out = purpose == PeopleImport.Purpose.OPT_OUT
        invalid = purpose == PeopleImport.Purpose.INVALID
        cursor.execute(
            f"UPDATE {STAGE} SET address_id = a.id FROM {table} a "
            f"WHERE a.address_lower = {STAGE}.address_lower"
        )
        cursor.execute(
            f"INSERT INTO {table} (address, address_lower, opt_out, invalid, soft_bounces) "
            f"SELECT address, address_lower, %s, %s, 0 FROM {STAGE} WHERE address_id IS NULL "
            "ON CONFLICT (address_lower) DO NOTHING",
            [opt_out, invalid],
        )
        cursor.execute(
            f"UPDATE {STAGE} SET address_id = a.id, address_new = TRUE FROM {table} a "
            f"WHERE {STAGE}.address_id IS NULL AND a.address_lower = {STAGE}.address_lower"
        )

    def _suppress(self, cursor) -> Counts:
        table = EmailAddress._meta.db_table
        flag = (
            "opt_out" if self.people_import.purpose == PeopleImport.Purpose.OPT_OUT else "invalid"
        )
        # is_new marks the existing addresses whose flag this import sets.
        cursor.execute(
            f"UPDATE {STAGE} SET is_new = TRUE FROM {table} a WHERE a.id = {STAGE}.address_id "
            f"AND NOT {STAGE}.address_new AND a.{flag} = FALSE"
        )
        cursor.execute(
            f"UPDATE {table} SET {flag} = TRUE WHERE id IN "
            f"(SELECT address_id FROM {STAGE} WHERE is_new)"
        )
        updated = cursor.rowcount
        if flag == "opt_out":
            self._consent_records(cursor)
        created, total = self._count(cursor, "address_new")
        return Counts(created=created, updated=updated, skipped=total - created - updated)

    def _consent_records(self, cursor) -> None:
        table = ConsentRecord._meta.db_table
        cursor.execute(
            f"INSERT INTO {table} (email_address_id, email, action, method, at, source, text, "
            "client_hash) SELECT address_id, address, %s, %s, %s, %s, '', '' "
            f"FROM {STAGE} WHERE address_new OR is_new",
            [
                ConsentRecord.Action.OPT_OUT,
                ConsentRecord.Method.IMPORT,
                _db_now(),
                str(self.people_import)[:255],
            ],
        )

    def _opt_in_records(self, cursor) -> None:
        """An opt-in consent record, with the consent the marketer states, for each person the
        import added to the list (or created, without a list)."""
        table = ConsentRecord._meta.db_table
        added = "entry_new" if self.people_import.target_list_id else "is_new"
        cursor.execute(
            f"INSERT INTO {table} (email_address_id, email, {self.kind}_id, action, method, at, "
            "source, text, client_hash) SELECT address_id, address, person_id, %s, %s, %s, %s, "
            f"%s, '' FROM {STAGE} WHERE {added}",
            [
                ConsentRecord.Action.OPT_IN,
                ConsentRecord.Method.IMPORT,
                _db_now(),
                str(self.people_import)[:255],
                self.people_import.consent_text,
            ],
        )

    def _count(self, cursor, flag: str) -> tuple[int, int]:
        cursor.execute(f"SELECT COUNT(*) FILTER (WHERE {flag}), COUNT(*) FROM {STAGE}")
        flagged, total = cursor.fetchone()
        return flagged or 0, total or 0

    def _people(self, cursor) -> Counts:
        model = PERSON_MODELS[self.kind]
        table = model._meta.db_table
        # The oldest record with the address; a new address has none. "+ 0" keeps PostgreSQL
        # from answering MIN(id) by walking the primary key and filtering on the address.
        cursor.execute(
            f"UPDATE {STAGE} SET person_id = (SELECT MIN(p.id + 0) FROM {table} p "
            f"WHERE p.email_address_id = {STAGE}.address_id) WHERE NOT address_new"
        )
        updated = self._update_existing(cursor, table)
        self._insert_people(cursor, table)
        if self.people_import.target_list_id:
            self._add_entries(cursor)
        if self.people_import.consent_text:
            self._opt_in_records(cursor)
        created, total = self._count(cursor, "is_new")
        return Counts(created=created, updated=updated, skipped=total - created - updated)

    def _update_existing(self, cursor, table: str) -> int:
        duplicates = self.people_import.duplicates
        if duplicates == PeopleImport.Duplicates.SKIP:
            return 0
        sets, changes = [], []
        for name in self.stored:
            mine, theirs = f"{table}.{name}", f"{STAGE}.{name}"
            if name == "account_id":
                empty, given = f"{mine} IS NULL", f"{theirs} IS NOT NULL"
                differs = f"({mine} IS NULL OR {mine} <> {theirs})"
            else:
                empty, given, differs = f"{mine} = ''", f"{theirs} <> ''", f"{mine} <> {theirs}"
            take = f"{given} AND {empty}"
            if duplicates == PeopleImport.Duplicates.OVERWRITE:
                take = f"{given} AND {differs}"
            sets.append(f"{name} = CASE WHEN {take} THEN {theirs} ELSE {mine} END")
            changes.append(f"({take})")
        cursor.execute(
            f"UPDATE {table} SET {', '.join(sets)} FROM {STAGE} "
            f"WHERE {STAGE}.person_id = {table}.id AND ({' OR '.join(changes)})"
        )
        return cursor.rowcount

    def _insert_people(self, cursor, table: str) -> None:
        extra_columns, extra_values = "", ""
        if self.kind == "lead":
            extra_columns, extra_values = ", status", f", '{Lead.Status.NEW.value}'"
        stored = ", ".join(self.stored)
        cursor.execute(
            f"INSERT INTO {table} (email_address_id, created_at, {stored}{extra_columns}) "
            f"SELECT address_id, %s, {stored}{extra_values} FROM {STAGE} "
            "WHERE person_id IS NULL",
            [_db_now()],
        )
        # A new record is not in the list yet: it needs an entry when the import has a list.
        cursor.execute(
            f"UPDATE {STAGE} SET person_id = p.id, is_new = TRUE, entry_new = %s FROM {table} p "
            f"WHERE {STAGE}.person_id IS NULL AND p.email_address_id = {STAGE}.address_id",
            [bool(self.people_import.target_list_id)],
        )

    def _add_entries(self, cursor) -> None:
        table = TargetListEntry._meta.db_table
        column = f"{self.kind}_id"
        list_id = self.people_import.target_list_id
        cursor.execute(
            f"UPDATE {STAGE} SET entry_new = TRUE WHERE NOT is_new AND NOT EXISTS (SELECT 1 "
            f"FROM {table} e WHERE e.target_list_id = %s AND e.{column} = {STAGE}.person_id "
            f"AND e.{column} IS NOT NULL)",
            [list_id],
        )
        cursor.execute(
            f"INSERT INTO {table} (target_list_id, {column}, opted_out, added_at) "
            f"SELECT %s, person_id, FALSE, %s FROM {STAGE} WHERE entry_new "
            "ON CONFLICT DO NOTHING",
            [list_id, _db_now()],
        )

    def _remember(self, cursor) -> None:
        table = ImportedRow._meta.db_table
        if self.kind == "suppression":  # the addresses whose flag this import set
            address, created, where = "address_id", "address_new", "address_new OR is_new"
        else:
            address = "CASE WHEN address_new THEN address_id END"
            created, where = "is_new", "is_new OR entry_new OR address_new"
        cursor.execute(
            f"INSERT INTO {table} (people_import_id, person_id, address_id, created, entry_added) "
            f"SELECT %s, person_id, {address}, {created}, entry_new FROM {STAGE} WHERE {where}",
            [self.people_import.pk],
        )
