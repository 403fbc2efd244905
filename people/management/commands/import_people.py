"""`manage.py import_people FILE --kind contacts|leads|accounts [--target-list NAME] [--update]
[--overwrite] [--opted-out | --invalid]`: a CSV import run here and now (for cron and scripts).

The columns are mapped as the admin would guess them (or as last chosen for the same header);
the import is recorded like one made in the admin, so it shows there and can be undone. Exits
0 when the import ran (rejected rows are listed in its rejected-rows file), 1 otherwise.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from people import imports
from people.csv_files import UnreadableFile
from people.models import PeopleImport
from targetlists.models import TargetList

KINDS = {"contacts": "contact", "leads": "lead", "accounts": "account"}


class Command(BaseCommand):
    help = "Import Accounts, Contacts or Leads (or a suppression list) from a CSV file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--kind", choices=sorted(KINDS), default="contacts")
        parser.add_argument("--target-list", help="the list to add everyone to (made if new)")
        parser.add_argument(
            "--consent", default="", help="the consent they gave, kept as opt-in records"
        )
        existing = parser.add_mutually_exclusive_group()
        existing.add_argument("--update", action="store_true", help="fill empty fields")
        existing.add_argument("--overwrite", action="store_true", help="overwrite fields")
        suppression = parser.add_mutually_exclusive_group()
        suppression.add_argument(
            "--opted-out", action="store_true", help="a suppression list: opt the addresses out"
        )
        suppression.add_argument(
            "--invalid", action="store_true", help="a suppression list: mark them invalid"
        )

    def handle(self, *args, **options) -> None:
        people_import = self._upload(options)
        problems = imports.check_problems(people_import)
        if problems:
            raise CommandError(" ".join(problems))
        imports.start(people_import, people_import.mapping, enqueue=False)
        done = imports.run_import(people_import.pk)
        summary = (
            f"Import #{done.pk} {done.get_status_display()}: {done.rows} rows, "
            f"{done.created} created, {done.updated} updated, {done.skipped} skipped, "
            f"{done.rejected} rejected"
        )
        if done.status != PeopleImport.Status.DONE:
            raise CommandError(f"{summary}. {done.error}")
        self.stdout.write(summary)
        if done.rejected_file:
            self.stdout.write(f"Rows not imported, with reasons: {done.rejected_file.path}")

    def _upload(self, options) -> PeopleImport:
        purpose = PeopleImport.Purpose.PEOPLE
        if options["opted_out"]:
            purpose = PeopleImport.Purpose.OPT_OUT
        elif options["invalid"]:
            purpose = PeopleImport.Purpose.INVALID
        duplicates = PeopleImport.Duplicates.SKIP
        if options["update"]:
            duplicates = PeopleImport.Duplicates.UPDATE
        elif options["overwrite"]:
            duplicates = PeopleImport.Duplicates.OVERWRITE
        target_list = None
        if options["target_list"] and purpose == PeopleImport.Purpose.PEOPLE:
            target_list = TargetList.objects.filter(name=options["target_list"]).first()
            target_list = target_list or TargetList.objects.create(name=options["target_list"])
        try:
            with options["file"].open("rb") as file:
                return imports.upload(
                    file,
                    kind=KINDS[options["kind"]],
                    purpose=purpose,
                    duplicates=duplicates,
                    target_list=target_list,
                    consent_text=options["consent"],
                )
        except OSError as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc.strerror}") from exc
        except UnreadableFile as exc:
            raise CommandError(f"{options['file']}: {exc}") from exc
