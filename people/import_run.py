"""Running an import: a reader thread checks the file's rows, writers commit them in batches.

The reader parses and checks rows (people.import_rows) and hands them over BATCH_ROWS at a
time; the rejected rows go to the rejected-rows file as it reads. On PostgreSQL, IMPORT_WRITERS
threads, each with its own connection, write batches at once (the database has work while
Python checks and formats); on SQLite, or inside the caller's transaction, the calling thread
writes them. Each batch is one transaction that also adds its counts to the import and keeps
which rows of the file it covered (ImportedBatch.first_row, last_row): an import taken up again
after its worker was stopped writes only the rows no committed batch covers, whatever order
the batches were committed in.
"""

import csv
import queue
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone, translation

from people import csv_files
from people.import_rows import Duplicate, Rejected, RowChecker
from people.import_sql import BatchWriter
from people.models import ImportedBatch, PeopleImport

BATCH_ROWS = 20_000


@dataclass
class Batch:
    """Checked rows to write, and the part of the file they stand for."""

    rows: list[tuple] = field(default_factory=list)
    first_row: int = 0  # the file's rows counted from 1 after the header, blank lines left out
    last_row: int = 0
    read_rows: int = 0  # rows of the file this batch accounts for (written, skipped, rejected)
    position: int = 0  # bytes read when it was handed over
    skipped: int = 0  # repeats of an address earlier in the file
    rejected: int = 0
    last: bool = False


class Reader(threading.Thread):
    """Reads and checks the file's rows, handing batches over one at a time (the next one is
    read meanwhile); the rejected rows go to `problems` (a CSV writer's file). What it raises
    is handed over too.

    Rows inside `written` ((first, last) ranges of committed batches) are checked again, for
    the repeats and the rejected-rows file, but not handed over or counted."""

    def __init__(self, people_import: PeopleImport, raw, problems, checker: RowChecker, written):
        super().__init__(name=f"import-{people_import.pk}-reader", daemon=True)
        self.people_import = people_import
        self.raw = raw
        self.writer = csv.writer(problems)
        self.checker = checker
        self.written = sorted(written)
        self.batches: queue.Queue = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        self.language = translation.get_language()  # the reasons' language, as the caller's

    def run(self) -> None:
        try:
            with translation.override(self.language):
                self._read()
        except BaseException as exc:  # noqa: BLE001  (raised again in the writing thread)
            self.batches.put(exc)

    def _read(self) -> None:
        people_import, check, problems = self.people_import, self.checker.check, self.writer
        stream = csv_files.text_stream(self.raw, people_import.encoding)
        batch = Batch()
        written, ranges = self.written, 0
        for number, row in enumerate(csv_files.rows(stream, people_import.delimiter), start=2):
            index = number - 1
            while ranges < len(written) and written[ranges][1] < index:
                ranges += 1
            mine = not (ranges < len(written) and written[ranges][0] <= index)
            try:
                checked = check(row)
                if mine:
                    batch.rows.append(checked)
            except Duplicate as exc:
                batch.skipped += mine
                problems.writerow([number, str(exc), *row])
            except Rejected as exc:
                batch.rejected += mine
                problems.writerow([number, str(exc), *row])
            if mine:
                batch.first_row = batch.first_row or index
                batch.last_row, batch.read_rows = index, batch.read_rows + 1
            if len(batch.rows) >= BATCH_ROWS:
                batch.position = self.raw.tell()
                if not self._hand_over(batch):
                    return
                batch = Batch()
        batch.position, batch.last = self.raw.tell(), True
        self._hand_over(batch)
        stream.detach()

    def _hand_over(self, batch: Batch) -> bool:
        """Queue `batch`, waiting for room; False if the import was stopped meanwhile."""
        while not self.stop.is_set():
            try:
                self.batches.put(batch, timeout=1)
                return True
            except queue.Full:
                continue
        return False

    def next_batch(self) -> Batch:
        got = self.batches.get()
        if isinstance(got, BaseException):
            raise got
        return got


class Writers:
    """Commits batches: in `threads` threads with their own connections, or in the calling
    thread when `threads` is 0. The first error of any writer is raised by write() or close()."""

    def __init__(self, people_import: PeopleImport, threads: int):
        self.people_import = people_import
        self.errors: list[BaseException] = []
        self.inline = None if threads else BatchWriter(people_import)
        self.work: queue.Queue = queue.Queue(maxsize=max(threads, 1))
        self.threads = [
            threading.Thread(target=self._loop, name=f"import-{people_import.pk}-writer-{n}")
            for n in range(threads)
        ]
        for thread in self.threads:
            thread.start()

    def write(self, batch: Batch) -> None:
        if self.errors:
            raise self.errors[0]
        if self.inline is not None:
            commit(self.inline, batch)
        else:
            self.work.put(batch)

    def close(self) -> None:
        """Wait for the batches handed over; raises a writer's error."""
        for _thread in self.threads:
            self.work.put(None)
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]

    def _loop(self) -> None:
        writer = BatchWriter(self.people_import)
        try:
            while (batch := self.work.get()) is not None:
                if self.errors:
                    continue  # the import has failed: drain the queue so nobody waits on it
                try:
                    commit(writer, batch)
                except BaseException as exc:  # noqa: BLE001  (raised again by write or close)
                    self.errors.append(exc)
        finally:
            connections.close_all()  # this thread's own connection


def commit(writer: BatchWriter, batch: Batch) -> None:
    """Write one batch and add what it did to the import's counts, in one transaction."""
    people_import = writer.people_import
    with transaction.atomic():
        counts = writer.write(batch.rows, batch.first_row, batch.last_row)
        PeopleImport.objects.filter(pk=people_import.pk).update(
            rows=F("rows") + batch.read_rows,
            created=F("created") + counts.created,
            updated=F("updated") + counts.updated,
            skipped=F("skipped") + counts.skipped + batch.skipped,
            rejected=F("rejected") + batch.rejected,
            read_bytes=Greatest(F("read_bytes"), batch.position),
            heartbeat_at=timezone.now(),
        )


def writer_threads() -> int:
    """How many writer threads: none (the calling thread writes) on SQLite, which takes one
    writer at a time, and inside a transaction, whose batches must all be part of it."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 0
    return settings.IMPORT_WRITERS


def read_and_write(people_import: PeopleImport, raw, problems, checker: RowChecker) -> None:
    """Import the rows of `raw` (the uploaded file) that no committed batch covers yet."""
    written = ImportedBatch.objects.filter(people_import=people_import, last_row__gt=0)
    reader = Reader(
        people_import, raw, problems, checker, written.values_list("first_row", "last_row")
    )
    writers = Writers(people_import, writer_threads())
    reader.start()
    try:
        while True:
            batch = reader.next_batch()
            writers.write(batch)
            if batch.last:
                break
    finally:
        reader.stop.set()
        reader.join()
        writers.close()
