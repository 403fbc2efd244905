"""The REST API under /api/v1/ (docs/api.md): the top floor, over every app below it.

Views and serializers stay thin: each rule (an upsert, a list's membership, a status change)
is a function of the app that owns the data, which the admin calls too. What this app adds is
the edge: API keys and scopes (keys, authentication, permissions), problem+json errors with a
stable code (problems), cursors (pagination), Idempotency-Key (idempotency), the per-key token
bucket (rate_limit), the OpenAPI schema (schema) and the job resource for bulk calls (jobs).

Adding endpoints (e.g. the webhooks app's): subclass `api.views.base.ApiViewSet` (or
`ApiView`), say which scope and Django permissions each method needs (`scopes = {"GET": ...}`,
`permissions = {"GET": [...]}`, or `@api_action(scope=..., permissions=[...])` for an
action); raise `api.problems.Problem("<code>", "detail")` for refusals; register the view in
api/urls.py. Unsafe methods then honour Idempotency-Key, lists are cursor-paginated, and the
schema documents the problem answers (docs/api.md, "For developers").
"""
