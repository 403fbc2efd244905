from django.core.management.base import BaseCommand

from webhooks import running


class Command(BaseCommand):
    help = "Fan new events out to webhook endpoints and deliver what is due (as the beat entry)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--seconds", type=float, default=0, help="keep delivering this long (0: one round)"
        )

    def handle(self, *args, seconds: float, **options) -> None:
        self.stdout.write(running.run_and_purge(seconds))
