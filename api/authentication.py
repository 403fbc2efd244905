"""Who is calling: an API key (`Authorization: Bearer <key>`), or a staff user's session.

A key authenticates as its user, with `request.auth` the ApiKey row (its scopes). A session
(an administrator trying calls from /api/v1/docs/ while logged in to the admin) has every
scope, still limited by the user's permissions, and keeps CSRF: Django REST framework's
SessionAuthentication refuses an unsafe method without the CSRF token.
"""

from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.request import Request

from api import keys
from api.problems import Problem


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>`; no header: not this authenticator's request."""

    keyword = "bearer"

    def authenticate(self, request: Request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _space, key = header.strip().partition(" ")
        if scheme.lower() != self.keyword:
            return None  # e.g. Basic: left to other authenticators (none answers it: 401)
        try:
            row = keys.authenticate(key.strip())
        except keys.InvalidKey as exc:
            raise Problem(exc.code, str(exc)) from exc
        return row.user, row

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class StaffSessionAuthentication(SessionAuthentication):
    """An admin session (staff users only), with CSRF checked on unsafe methods."""

    def authenticate(self, request: Request):
        found = super().authenticate(request)
        if found is None or not found[0].is_staff:
            return None
        return found
