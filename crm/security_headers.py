"""The Content-Security-Policy of every page: one middleware, per-view overrides.

Two base policies, chosen by path: the admin (`/admin/…`) is `'self'`-based; every other page
(what recipients reach from emails: opt-out, click messages, "link is not valid", the pixel,
webhooks) starts from `default-src 'none'` and allows only the inline style its pages carry.
Both say `frame-ancestors 'none'` (no other site may frame a page) and `form-action 'self'`.

Inline `<style>` and `<script>` blocks need the request's nonce: write
`<style nonce="{{ csp_nonce }}">` (the context processor `crm.security_headers.nonce` provides
it); the nonce is made only for responses whose template asked for it. `style="…"` attributes
and inline event handlers are refused: use classes in a nonce'd block or a static file.

A view that needs more (an email shown in a sandboxed frame, a code editor's web worker) says
so where it is defined, with the decorator, which changes or adds directives on top of its
path's base policy::

    @content_security_policy(img_src=["https:", "data:"], frame_ancestors=["'self'"])
    def my_view(request): ...

or, for a view defined elsewhere (e.g. an admin view), by its URL name in the setting
CONTENT_SECURITY_POLICY_VIEWS = {"admin:crm_emailtemplate_preview": {"img-src": [...]}}.
A directive's value is a list of sources; NONCE stands for the request's nonce; an empty list
removes the directive. A response that already has the header keeps it. With DEBUG on, error
responses that asked for no nonce (Django's debug pages, full of inline code) get no policy.
"""

import secrets
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

NONCE = "'nonce'"  # placeholder: the request's nonce, e.g. 'nonce-q3Jb…'
HEADER = "Content-Security-Policy"

ADMIN = {
    "default-src": ["'self'"],
    "script-src": ["'self'", NONCE],
    "style-src": ["'self'", NONCE],
    # style="…" attributes (Django's own widgets, progress bars' widths) carry no script.
    "style-src-attr": ["'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "frame-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
PUBLIC = {
    "default-src": ["'none'"],
    "style-src": [NONCE],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# An email's HTML shown by itself inside a sandboxed frame of our admin: its own inline styles
# and remote images, never scripts, plugins or forms; only our own pages may frame it.
EMAIL_IN_FRAME = {
    "default-src": ["'none'"],
    "style-src": ["'unsafe-inline'"],
    "img-src": ["https:", "http:", "data:"],
    "font-src": ["https:", "data:"],
    "base-uri": ["'none'"],
    "form-action": ["'none'"],
    "frame-ancestors": ["'self'"],
    "sandbox": [],
}
_KEEP_EMPTY = {"sandbox", "upgrade-insecure-requests"}  # directives that take no sources


def content_security_policy(base: dict | None = None, **directives: list[str]) -> Callable:
    """Decorator: the view's policy is `base` (default: its path's) with `directives` set;
    keyword names use '_' for '-' (img_src → img-src)."""
    changes = {name.replace("_", "-"): list(sources) for name, sources in directives.items()}

    def decorate(view: Callable) -> Callable:
        view.csp_policy = (base, changes)
        return view

    return decorate


def policy_for(path: str, base: dict | None, changes: dict) -> dict[str, list[str]]:
    """The directives of a response: the base (or the path's) with `changes` applied."""
    start = base if base is not None else (ADMIN if path.startswith("/admin/") else PUBLIC)
    policy = {**start, **changes}
    return {k: v for k, v in policy.items() if v or (k in _KEEP_EMPTY and k in changes | start)}


@lru_cache(maxsize=64)
def _header(items: tuple[tuple[str, tuple[str, ...]], ...], with_nonce: bool) -> str:
    parts = []
    for name, sources in items:
        kept = [s for s in sources if with_nonce or s != NONCE]
        if sources and not kept:
            kept = ["'none'"]  # only a nonce was allowed, and none was used
        parts.append(" ".join([name, *kept]))
    return "; ".join(parts)


def header_value(policy: dict[str, list[str]], nonce: str | None) -> str:
    """The header's text; NONCE becomes 'nonce-<nonce>', or is dropped when `nonce` is None."""
    items = tuple((name, tuple(sources)) for name, sources in policy.items())
    text = _header(items, nonce is not None)
    return text.replace(NONCE, f"'nonce-{nonce}'") if nonce else text


class Nonce:
    """The request's nonce, made on first use (most responses, e.g. the pixel, need none)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = ""

    def __str__(self) -> str:
        if not self.value:
            self.value = secrets.token_urlsafe(16)
        return self.value


@lru_cache(maxsize=256)
def _texts(admin: bool, override: tuple | None) -> tuple[str, str]:
    """(header without a nonce, header with NONCE in it) for a path kind and an override."""
    base, changes = override or (None, ())
    policy = policy_for("/admin/" if admin else "/", base and dict(base), dict(changes))
    return header_value(policy, None), header_value(policy, NONCE.strip("'"))


def _frozen(base: dict | None, changes: dict) -> tuple:
    # Hashable, so each distinct policy's texts are built once per process.
    freeze = lambda d: tuple((k, tuple(v)) for k, v in d.items())  # noqa: E731
    return (freeze(base) if base is not None else None, freeze(changes))


class ContentSecurityPolicyMiddleware:
    """Sets the Content-Security-Policy header on every response (see the module)."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = request.csp_nonce = Nonce()
        response = self.get_response(request)
        if settings.DEBUG and response.status_code >= 400 and not nonce.value:
            return response  # Django's debug pages (development only) carry inline code
        if HEADER not in response:
            admin = request.path_info.startswith("/admin/")
            plain, with_nonce = _texts(admin, getattr(request, "_csp_policy", None))
            if nonce.value:
                response[HEADER] = with_nonce.replace("'nonce-nonce'", f"'nonce-{nonce.value}'")
            else:
                response[HEADER] = plain
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        override = getattr(view_func, "csp_policy", None)
        match = getattr(request, "resolver_match", None)
        by_name = settings.CONTENT_SECURITY_POLICY_VIEWS.get(match.view_name if match else "")
        if by_name is not None:
            base, changes = override or (None, {})
            override = (base, {**changes, **by_name})
        if override is not None:
            request._csp_policy = _frozen(*override)


def nonce(request: HttpRequest) -> dict:
    """Context processor: `csp_nonce` for inline <style>/<script> blocks."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
