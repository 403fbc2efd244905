"""The OpenAPI 3 schema (drf-spectacular): bearer keys, Idempotency-Key, problem responses.

Every operation documents the problem+json answers it can give (ApiAutoSchema and the
postprocessing hook), so a client generated from the schema, and schemathesis in the test
suite, can hold every answer against it.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

from api import idempotency
from api.problems import CONTENT_TYPE, PROBLEMS

READ_PROBLEMS = (400, 401, 403, 404, 405, 406, 429)
WRITE_PROBLEMS = (*READ_PROBLEMS, 409, 413, 415, 422)

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem document; `code` is stable, `detail` is for people.",
    "required": ["type", "title", "status", "detail", "code", "instance"],
    "properties": {
        "type": {"type": "string", "description": "Where the code is explained."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "enum": sorted(PROBLEMS)},
        "instance": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Field (dotted path) → messages, for invalid_fields.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `Authorization: Bearer mm_…` (docs/api.md, Keys).",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.StaffSessionAuthentication"
    name = "AdminSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with Idempotency-Key on unsafe methods."""

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method in idempotency.UNSAFE:
            parameters.append(
                OpenApiParameter(
                    idempotency.HEADER,
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description=(
                        "Any 1–255 visible ASCII characters; the same key and body within 24 "
                        "hours get the first answer again and do nothing twice."
                    ),
                    pattern=r"^[\x21-\x7e]{1,255}$",
                )
            )
        return parameters


def add_problem_responses(result, generator, request, public):
    """Postprocessing hook: the Problem component, and its answers on every operation."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    reference = {"$ref": "#/components/schemas/Problem"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            statuses = READ_PROBLEMS if method in ("get", "head") else WRITE_PROBLEMS
            responses = operation.setdefault("responses", {})
            for status in statuses:
                responses.setdefault(
                    str(status),
                    {
                        "description": _described(status),
                        "content": {CONTENT_TYPE: {"schema": reference}},
                    },
                )
    return result


def _described(status: int) -> str:
    codes = sorted(code for code, kind in PROBLEMS.items() if kind.status == status)
    return "Problem: " + ", ".join(f"`{code}`" for code in codes)
