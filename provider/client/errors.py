"""What can go wrong talking to the control plane, as exceptions a resource turns into diagnostics.

Contract: every error answer of the control plane (`{"error": {"code", "message", "field"}}`, docs/design.md)
becomes an `ApiError` (`NotFound` for 404, `Conflict` for 409, `AlreadyExists` for a create's name already
taken) carrying those fields; a control plane
that cannot be reached becomes `Unreachable` (also an `ApiError`, status 0), so one `except ApiError`
covers every failure of a request. Waits end in `Failed`, `Timeout` or `Cancelled`. No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

TOKEN_HINT = (
    "set the provider's `token` or the DBAAS_TOKEN environment variable to a token of this project "
    "(`dbaas-cp token create --project P` prints one)"
)
_TEXT_LIMIT = 300  # characters of a non-JSON error body worth showing


class ApiError(Exception):
    """An error answer of the control plane: HTTP status, its error code, message and the field at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.code!r}, {self.message!r}, {self.field!r})"


class NotFound(ApiError):
    """404: the object does not exist, or the token may not see it (never 403, docs/design.md)."""


class Conflict(ApiError):
    """409: a duplicate name, a busy service, termination protection, a backup chain, …"""


class AlreadyExists(Conflict):
    """409 on a create: the object exists already, made elsewhere (another configuration, by hand). Terraform
    must not take it over: the message says how to import it instead."""

    def __init__(self, conflict: Conflict, resource_type: str, import_id: str) -> None:
        message = f"{conflict.message}; import it with `terraform import {resource_type}.<name> {import_id}`"
        super().__init__(conflict.status, conflict.code, message, conflict.field)


class Unreachable(ApiError):
    """No answer at all: connection refused, DNS failure, TLS failure or a request timeout (status 0)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "unreachable", message)


class Failed(ApiError):
    """A wait saw the object reach a failed state; `obj` is the object as last read."""

    def __init__(self, message: str, obj: Mapping[str, Any]) -> None:
        super().__init__(200, "failed", message)
        self.obj = obj


class Cancelled(Exception):
    """A wait was cancelled through its stop event (Terraform asked the provider to stop)."""


class Timeout(Exception):
    """A wait ran out of time; the message says what was awaited and its last state."""

    def __init__(self, message: str, last: Mapping[str, Any] | None) -> None:
        super().__init__(message)
        self.last = last


_BY_STATUS: dict[int, type[ApiError]] = {404: NotFound, 409: Conflict}


def error_from_answer(status: int, reason: str, content: bytes, *, token_given: bool) -> ApiError:
    """The exception for an error answer: its JSON error when it has one, else a message made of its text."""
    code, message, field = _parse(content)
    if message is None:
        text = content.decode("utf-8", "replace").strip()
        shown = " ".join(text.split())[:_TEXT_LIMIT] if text else ""
        message = f"HTTP {status} {reason}" + (f": {shown}" if shown else "")
    if status == 401:
        problem = "is invalid or expired" if token_given else "is missing"
        message = f"the control plane refused the request: the token {problem} ({message}); {TOKEN_HINT}"
    kind = _BY_STATUS.get(status, ApiError)
    return kind(status, code or _default_code(status), message, field)


def _parse(content: bytes) -> tuple[str | None, str | None, str | None]:
    try:
        body = json.loads(content) if content else None
    except ValueError:
        return None, None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return None, None, None
    code, field = error.get("code"), error.get("field")
    return (
        code if isinstance(code, str) else None,
        error["message"],
        field if isinstance(field, str) else None,
    )


def _default_code(status: int) -> str:
    if status == 429:
        return "too_many_requests"
    return "internal" if status >= 500 else "error"
