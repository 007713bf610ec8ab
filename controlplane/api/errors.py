"""Every error answers `{"error": {"code", "message", "field"}}`, naming the field at fault."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from controlplane.domain.errors import Conflict, DomainError, Invalid, NotFound

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    500: "internal",
    503: "unavailable",
}
# How long a client should wait before trying again when the catalog cannot be reached.
_CATALOG_RETRY_AFTER = "2"


# The answer to each kind of domain error (and to its subclasses); DomainError itself missing here is a bug,
# answered as 500 by FastAPI.
_DOMAIN_ANSWERS: dict[type[DomainError], int] = {Invalid: 422, NotFound: 404, Conflict: 409}


class ApiError(Exception):
    """An answer the HTTP layer gives of its own: authentication, headers, body size, idempotency, lookups."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class ErrorDetail(BaseModel):
    """What was refused, and the part of the request at fault."""

    code: str = Field(
        description="A stable machine-readable kind: " + ", ".join(sorted(set(_CODES.values()))) + ".",
        examples=["invalid"],
    )
    message: str = Field(
        description="What was refused and why, for people; it names the field when there is one.",
        examples=["plan: unknown plan 'galactic-64'; plans: business-8, hobbyist, startup-4"],
    )
    field: str | None = Field(
        description="The request's field at fault, dotted for nested ones (`user_config.additional_backup_regions`); "
        "null when the request as a whole is refused.",
        examples=["plan"],
    )


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail = Field(
        description="The error.",
        examples=[{"code": "not_found", "message": "backup 'nightly' of service 'orders' not found", "field": "name"}],
    )


def error_body(code: str, message: str, field: str | None) -> dict[str, Any]:
    return ErrorBody(error=ErrorDetail(code=code, message=message, field=field)).model_dump()


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the same shape."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
        return JSONResponse(error_body(err.code, err.message, err.field), status_code=err.status, headers=headers)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, err: DomainError) -> JSONResponse:
        status = next(_DOMAIN_ANSWERS[kind] for kind in type(err).__mro__ if kind in _DOMAIN_ANSWERS)
        return JSONResponse(error_body(_CODES[status], err.message, err.field), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
        field = ".".join(location) or None
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        return JSONResponse(error_body("invalid", message, field), status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def catalog_unreachable(request: Request, err: Exception) -> JSONResponse:
        # The shared catalog is down, restarting or locked: the client may send the request again.
        message = (
            "the catalog cannot be reached for now; try again "
            "(a create sent again with its Idempotency-Key answers what it made)"
        )
        return JSONResponse(
            error_body("unavailable", message, None), status_code=503, headers={"Retry-After": _CATALOG_RETRY_AFTER}
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(err.status_code, "error")
        return JSONResponse(
            error_body(code, str(err.detail), None), status_code=err.status_code, headers=getattr(err, "headers", None)
        )
