"""Running a whole import in a test: upload bytes, start with the guessed mapping, run it."""

import io

from people import imports
from people.models import PeopleImport


def run_file(data: bytes, kind: str = "contact", name: str = "people.csv", **options):
    """Upload `data` as a CSV file and import it with the guessed (or given) mapping."""
    file = io.BytesIO(data)
    file.name = name
    mapping = options.pop("mapping", None)
    people_import = imports.upload(
        file,
        kind=kind,
        purpose=options.pop("purpose", PeopleImport.Purpose.PEOPLE),
        duplicates=options.pop("duplicates", PeopleImport.Duplicates.SKIP),
        **options,
    )
    imports.start(people_import, mapping or people_import.mapping)
    return imports.run_import(people_import.pk)


def rejected_rows(people_import: PeopleImport) -> list[list[str]]:
    import csv

    with people_import.rejected_file.open("rb") as raw:
        text = raw.read().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def undo(people_import: PeopleImport):
    """Ask for the import's undo as the admin's button does, then run it as its task does."""
    from people import import_undo

    import_undo.request_undo(people_import)  # its task is queued when the test's commit comes
    return import_undo.run_undo(people_import.pk)
