"""`manage.py update_results`: fold new log records and tracking hits into the results counters."""

from django.core.management.base import BaseCommand

from campaigns.results.counters import rebuild_counters, update_counters


class Command(BaseCommand):
    help = "Fold new campaign log records and settled tracking hits into the results counters."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--rebuild", action="store_true", help="Forget the counters and count everything again."
        )

    def handle(self, *args, **options) -> None:
        folded = rebuild_counters() if options["rebuild"] else update_counters(max_batches=10_000)
        self.stdout.write(
            f"{folded['log']} log records and {folded['hits']} tracking hits folded "
            "into the counters"
        )
