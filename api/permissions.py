"""What a caller may do: the scope of the call (API keys), then the user's Django permissions.

A view declares, per HTTP method or per action, the scope and the permissions it needs:

    scopes = {"GET": scopes.PEOPLE_READ, "POST": scopes.PEOPLE_WRITE, ...}
    permissions = {"GET": ["crm.view_contact"], "POST": ["crm.add_contact"], ...}

or, for an action of a viewset, `scope=` and `permissions=` given to api.views.base.api_action.
A method a view does not list is refused (deny by default). The user's permissions come from
the groups of crm.groups, so a key never does more than its user could in the admin.
"""

from django.contrib.auth.models import Permission
from django.db.models import Q
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from api import scopes as scope_names
from api.models import ApiKey
from api.problems import Problem


def required(view, request: Request) -> tuple[str | None, list[str]]:
    """(scope, permissions) the view needs for this request; scope None: not allowed."""
    method = request.method.upper()
    if method in ("HEAD", "OPTIONS"):
        method = "GET"
    action = getattr(view, "action", None)
    handler = getattr(view, action, None) if action else None
    if handler is not None and hasattr(handler, "api_scope"):
        scope, permissions = handler.api_scope, handler.api_permissions
        if isinstance(scope, dict):
            scope = scope.get(method)
        if isinstance(permissions, dict):
            permissions = permissions.get(method, ())
        elif callable(permissions):
            permissions = permissions(view)
        return scope, list(permissions)
    scopes = getattr(view, "scopes", {})
    permissions = getattr(view, "permissions", {})
    return scopes.get(method), list(permissions.get(method, ()))


def held(user, names: list[str]) -> set[str]:
    """Which of the permissions `names` ("app_label.codename") the user holds, directly or
    through a group, in one query (Django's ModelBackend rules: an inactive user none, an
    active superuser all)."""
    if not names or not user.is_active:
        return set()
    if user.is_superuser:
        return set(names)
    wanted = Q()
    for name in names:
        app_label, _dot, codename = name.partition(".")
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    rows = (
        Permission.objects.filter(wanted)
        .filter(Q(user=user) | Q(group__user=user))
        .values_list("content_type__app_label", "codename")
    )
    return {f"{app_label}.{codename}" for app_label, codename in rows}


class ScopePermission(BasePermission):
    """The key has the view's scope for this method, and its user the view's permissions."""

    def has_permission(self, request: Request, view) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False  # DRF answers 401 (no credentials) from here
        scope, permissions = required(view, request)
        if scope is None:
            raise Problem("method_not_allowed", f"{request.method} is not allowed here.")
        if (
            isinstance(request.auth, ApiKey)
            and scope != scope_names.ANY
            and scope not in request.auth.scopes
        ):
            raise Problem("missing_scope", f"This call needs the scope “{scope}”.")
        missing = sorted(set(permissions) - held(request.user, permissions))
        if missing:
            raise Problem(
                "permission_denied",
                "The key's user may not do this (missing permission: " + ", ".join(missing) + ").",
            )
        return True
