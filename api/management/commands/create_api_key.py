"""manage.py create_api_key NAME [--scopes SCOPE ...] [--user USERNAME] [--expires-days N]

Makes an API key and prints it once, as the last line of the output. Without --user the key
acts as the service user `api` (made on first use, in the group Administrators, with no
password and no admin login); without --scopes it gets every scope.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from api import keys
from api import scopes as scope_names
from crm.groups import ADMINISTRATORS, update_groups

SERVICE_USER = "api"


def service_user():
    """The user `api` keys act as by default: in Administrators, unable to log in."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=SERVICE_USER, defaults={"is_active": True, "is_staff": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    group = Group.objects.filter(name=ADMINISTRATORS).first()
    if group is None:
        update_groups()
        group = Group.objects.get(name=ADMINISTRATORS)
    user.groups.add(group)
    return user


class Command(BaseCommand):
    help = "Make an API key; it is printed once, as the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="what the key is for, e.g. 'website signup'")
        parser.add_argument(
            "--scopes",
            nargs="+",
            default=None,
            metavar="SCOPE",
            help="scopes (default: all): " + ", ".join(scope_names.SCOPES),
        )
        parser.add_argument("--user", help="the user the key acts as (default: 'api')")
        parser.add_argument(
            "--expires-days",
            type=int,
            default=365,
            help="days until the key expires (default 365; 0: never)",
        )

    def handle(self, *args, name: str, scopes: list | None, user: str | None, **options):
        chosen = scopes if scopes is not None else list(scope_names.SCOPES)
        owner = self._user(user)
        days = options["expires_days"]
        if days < 0:
            raise CommandError("--expires-days must be 0 (never) or more.")
        expires = timezone.now() + timedelta(days=days) if days else None
        try:
            made = keys.create_key(name, owner, chosen, expires_at=expires)
        except scope_names.UnknownScope as exc:
            known = ", ".join(scope_names.SCOPES)
            raise CommandError(f"Unknown scope: {exc}. Scopes: {known}") from exc
        row = made.api_key
        self.stdout.write(
            f"API key “{row.name}” for user {owner.get_username()}, scopes: "
            f"{', '.join(row.scopes)}; expires: {row.expires_at or 'never'}. "
            "Copy it now: it is not shown again."
        )
        self.stdout.write(made.key)

    def _user(self, username: str | None):
        if username is None:
            return service_user()
        found = get_user_model().objects.filter(username=username).first()
        if found is None:
            raise CommandError(f"No user named “{username}”.")
        if not found.is_active:
            raise CommandError(f"The user “{username}” is inactive.")
        return found
