"""The error answers routes document in the OpenAPI document, each with the body errors.py really sends.

Routers declare what every one of their operations can answer (`PROJECT_ERRORS`: the token, the project in
the path, the body's size and validation); a route adds what its own rules refuse (`conflict(...)`).
tests/controlplane/test_openapi_contract.py checks real answers against these declarations.
"""

from __future__ import annotations

from typing import Any

from controlplane.api.body_limit import MAX_BODY_BYTES
from controlplane.api.errors import ErrorBody

Responses = dict[int | str, dict[str, Any]]


def error(status: int, description: str, code: str, message: str, field: str | None) -> Responses:
    """The declaration of one error status: its meaning, the ErrorBody schema and an example body."""
    example = {"error": {"code": code, "message": message, "field": field}}
    return {
        status: {"model": ErrorBody, "description": description, "content": {"application/json": {"example": example}}}
    }


def conflict(description: str, message: str, field: str | None) -> Responses:
    """409: the request is refused in the present state of things; the same request may succeed later."""
    return error(409, f"Conflict: {description}", "conflict", message, field)


UNAUTHORIZED = error(
    401,
    "No bearer token, or one the control plane does not know (`Authorization: Bearer <token>`).",
    "unauthorized",
    "invalid token",
    None,
)
TOO_LARGE = error(
    413,
    f"The request declares or sends a body larger than {MAX_BODY_BYTES} bytes (1 MiB); answered before it is read.",
    "too_large",
    f"request body larger than {MAX_BODY_BYTES} bytes (1 MiB)",
    None,
)
INVALID = error(
    422,
    "A parameter, header or body field breaks its rule; `field` names it.",
    "invalid",
    "name: String should match pattern '^[a-z][a-z0-9-]{0,62}$'",
    "name",
)
NOT_FOUND = error(
    404,
    "The project, or what the path names in it, does not exist or is not the token's to see.",
    "not_found",
    "service 'orders' in project 'acme' not found",
    "service",
)

# Every operation without a project in its path: the token and the body's size.
TOKEN_ERRORS: Responses = {**UNAUTHORIZED, **TOO_LARGE}
# Every operation under /v1/projects/{project}: the project's name is a checked parameter and may be another's.
PROJECT_ERRORS: Responses = {**UNAUTHORIZED, **NOT_FOUND, **TOO_LARGE, **INVALID}
