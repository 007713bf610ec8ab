"""`Idempotency-Key` on create routes (DESIGN §4): a retried create answers what the first attempt answered.

`@idempotent` goes under the route decorator. With the header, the first request claims the key (token's
project, key → method, path, a hash of the body) and commits the claim before it acts, and records its
answer after; a retry with the same key and body gets the recorded answer and does not act again, one
with another request answers 422. A request that fails (an error answer) releases its claim: it did not
act, so its retry may. A retry that arrives while the first is still at work waits for its answer up to
`WAIT_SECONDS`, then answers 409. A control plane that dies between acting and recording leaves the claim
unanswered: its retries answer 409 until the key expires, rather than act a second time.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ParamSpec, TypeVar

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from controlplane.api.dependencies import SessionDep, TokenDep
from controlplane.api.errors import ApiError
from controlplane.catalog import idempotency as keys
from controlplane.domain.errors import Invalid

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128
WAIT_SECONDS = 10.0
_POLL_SECONDS = 0.05
P = ParamSpec("P")
R = TypeVar("R")
_ADMIN_SCOPE = "*"  # the admin token's keys; never a project name (NAME_PATTERN)


@dataclass(frozen=True)
class KeyedRequest:
    """A request carrying an `Idempotency-Key`: who sent it, and what it asks, as a hash."""

    scope: str
    key: str
    method: str
    path: str
    request_hash: str
    status: int  # the route's status on success, recorded with the answer
    session: Session  # the request's own: on SQLite a second session would wait for its write lock


async def keyed_request(
    request: Request,
    token: TokenDep,
    session: SessionDep,
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="A key of the client's (printable ASCII, at most 128 characters, e.g. a UUID): a retry "
            "with the same key and body answers what the first request answered, without acting again.",
        ),
    ] = None,
) -> KeyedRequest | None:
    """The request's key and fingerprint, or None without the header."""
    if key is None:
        return None
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in key):
        raise Invalid(HEADER, f"expected 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    body = await request.body()  # FastAPI has read it already: this is its cached copy
    try:
        # The same JSON document however it is spelled: key order and spacing do not make another request.
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    fingerprint = hashlib.sha256(b"\n".join([request.method.encode(), request.url.path.encode(), canonical]))
    route = request.scope["route"]
    return KeyedRequest(
        scope=token.project or _ADMIN_SCOPE,
        key=key,
        method=request.method,
        path=request.url.path,
        request_hash=fingerprint.hexdigest(),
        status=route.status_code or 200,
        session=session,
    )


def idempotent(endpoint: Callable[P, R]) -> Callable[..., R | JSONResponse]:
    """The route `endpoint` (a sync function) with `Idempotency-Key` handling; its parameters are kept."""
    signature = inspect.signature(endpoint)
    extra = inspect.Parameter(
        "idempotency_key",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[KeyedRequest | None, Depends(keyed_request)],
    )

    @functools.wraps(endpoint)
    def route(*args: Any, idempotency_key: KeyedRequest | None, **kwargs: Any) -> R | JSONResponse:
        if idempotency_key is None:
            return endpoint(*args, **kwargs)
        session = idempotency_key.session
        recorded = _claim(idempotency_key)
        if recorded is not None:
            return JSONResponse(recorded[1], status_code=recorded[0])
        try:
            answer = endpoint(*args, **kwargs)
        except BaseException:
            session.rollback()
            keys.release_key(session, scope=idempotency_key.scope, key=idempotency_key.key)
            session.commit()
            raise
        keys.record_answer(
            session,
            scope=idempotency_key.scope,
            key=idempotency_key.key,
            status=idempotency_key.status,
            response=jsonable_encoder(answer),
        )
        session.commit()
        return answer

    # FastAPI reads the parameters from the signature: the route's own, and the key's dependency.
    route.__signature__ = signature.replace(parameters=[*signature.parameters.values(), extra])  # type: ignore[attr-defined]
    return route


def _claim(keyed: KeyedRequest) -> tuple[int, Any] | None:
    """None when this request claimed the key and acts; else the (status, body) the first request answered.

    Each look is a transaction of its own, ended before the next: the claim is seen by every other request
    before this one acts, and a waiting retry holds no lock the first request needs to finish.
    """
    session, claim = keyed.session, {"scope": keyed.scope, "key": keyed.key}
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        if keys.claim_key(session, **claim, method=keyed.method, path=keyed.path, request_hash=keyed.request_hash):
            session.commit()
            return None
        found = keys.find_key(session, **claim)
        session.commit()
        if found is None:
            continue  # the first request failed and released the key meanwhile: claim it again
        if found.request_hash != keyed.request_hash:
            raise ApiError(
                422,
                "invalid",
                f"{HEADER} {keyed.key!r} was used for another request ({found.method} {found.path} with "
                "another body); a new request needs a new key",
                HEADER,
            )
        if found.status is not None:
            return found.status, found.response
        if time.monotonic() >= deadline:
            raise ApiError(
                409, "conflict", f"the request with {HEADER} {keyed.key!r} is still in progress; retry later", HEADER
            )
        time.sleep(_POLL_SECONDS)  # the first request is at work; its answer is a row away
