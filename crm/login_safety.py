"""Login safety: the admin login's lockout (django-axes) and the demo users' passwords.

django-axes counts failed logins per user name and per client address (settings: AXES_*); at
the limit it answers with `lockout_response`, a page in the admin's look that says for how long
logins are locked and who can clear the lockout. `client_address` is the address axes counts:
REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the one they recorded in X-Forwarded-For
(a client cannot forge the entries the proxies append, only those before them).
`check_demo_passwords` is the system check that warns in production (`check --deploy`,
`migrate`) while a demo login (admin/admin, marketer/marketer) still has its demo password.
"""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core import checks
from django.db import DatabaseError, connection
from django.http import HttpRequest
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

DEMO_PASSWORDS = {"admin": "admin", "marketer": "marketer"}  # user name -> its demo password


def client_address(request: HttpRequest) -> str:
    """The client's address as the last trusted proxy saw it, else REMOTE_ADDR."""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [address for address in forwarded if address]
    if proxies > 0 and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def client_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The user name axes counts: the one tried, cut to its column's 255 characters (a longer
    one names no user, and whole it would not fit the attempts table)."""
    source = credentials if credentials is not None else request.POST
    username = source.get(settings.AXES_USERNAME_FORM_FIELD)
    return username[:255] if isinstance(username, str) else username


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """axes' AXES_LOCKOUT_CALLABLE: 429 with a page saying why and for how long."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        **admin.site.each_context(request),
        "title": _("Login locked"),
        "reason": ngettext(
            "Too many failed logins for this user name or from this address: logging in is "
            "locked for %(minutes)d minute.",
            "Too many failed logins for this user name or from this address: logging in is "
            "locked for %(minutes)d minutes.",
            minutes,
        )
        % {"minutes": minutes},
        "advice": _(
            "Wait and try again, or ask an administrator to clear the lockout "
            "(Axes → Access attempts: delete the row)."
        ),
    }
    return render(request, "admin/login_locked.html", context, status=429)


@checks.register(checks.Tags.security, deploy=True)
def check_demo_passwords(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """crm.W001 on `check --deploy` (DEBUG off): a demo login still has its demo password."""
    return [] if databases else demo_password_warnings()


@checks.register(checks.Tags.security, checks.Tags.database)
def check_demo_passwords_on_migrate(app_configs=None, databases=None, **kwargs):
    """The same on `migrate` and `check --database default`, the commands that open the
    database for their checks (others, e.g. the jobs cron runs, do not hash passwords)."""
    return demo_password_warnings() if databases else []


def demo_password_warnings() -> list[checks.CheckMessage]:
    """crm.W001 per active demo login that still has its demo password, with DEBUG off."""
    if settings.DEBUG:
        return []
    user_model = get_user_model()
    try:
        if user_model._meta.db_table not in connection.introspection.table_names():
            return []  # not migrated yet: no users at all
        users = list(user_model.objects.filter(username__in=DEMO_PASSWORDS, is_active=True))
    except DatabaseError as exc:
        return [checks.Warning(f"Could not check the demo logins' passwords: {exc}", id="crm.W002")]
    return [
        checks.Warning(
            f"The user {user.username!r} still has the demo password {user.username!r}.",
            hint="Change its password (manage.py changepassword) or delete the user.",
            obj=user,
            id="crm.W001",
        )
        for user in users
        if user.check_password(DEMO_PASSWORDS[user.username])
    ]


# django-axes ships no Spanish catalog: the labels its admin pages show are listed here so that
# ours (LOCALE_PATHS, which takes precedence over apps' catalogs) translates them.
AXES_ADMIN_LABELS = (
    gettext_lazy("Access Attempt"),
    gettext_lazy("Access lock out"),
    gettext_lazy("Attempt Remaining"),
    gettext_lazy("Attempt Time"),
    gettext_lazy("Clean up expired attempts"),
    gettext_lazy("Expires At"),
    gettext_lazy("Failed Logins"),
    gettext_lazy("Form Data"),
    gettext_lazy("GET Data"),
    gettext_lazy("HTTP Accept"),
    gettext_lazy("IP Address"),
    gettext_lazy("Locked Out"),
    gettext_lazy("Logout Time"),
    gettext_lazy("Meta Data"),
    gettext_lazy("Not set"),
    gettext_lazy("POST Data"),
    gettext_lazy("Path"),
    gettext_lazy("Session key hash (sha256)"),
    gettext_lazy("The time when access attempt expires and is no longer valid."),
    gettext_lazy("User Agent"),
    gettext_lazy("Username"),
    gettext_lazy("access attempt expiration"),
    gettext_lazy("access attempt expirations"),
    gettext_lazy("access attempt"),
    gettext_lazy("access attempts"),
    gettext_lazy("access failure"),
    gettext_lazy("access failures"),
    gettext_lazy("access log"),
    gettext_lazy("access logs"),
)
