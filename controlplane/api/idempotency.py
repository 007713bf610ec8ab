"""`Idempotency-Key` on create routes (DESIGN §4): a retried create answers what the first attempt answered.

`@idempotent` goes under the route decorator. With the header, the route's transaction carries the answer
too: the route ends its work with `commit(session)`, which under a key only flushes, and the wrapper records
the answer (token's project, key → method, path, a hash of the body, status, body) and commits both at once.
So a key is recorded exactly when its request acted; a control plane that dies in between did neither, and
a retry acts. A retry with the same key and body gets the recorded answer and does not act again, one with
another request answers 422. Two requests with one key at once: the catalog's unique key decides, the loser's
transaction (its act included) is rolled back and it answers what the winner answered.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ParamSpec, TypeVar

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import event
from sqlalchemy.orm import Session

from controlplane.api.dependencies import SessionDep, TokenDep
from controlplane.catalog import idempotency as keys
from controlplane.domain.errors import Invalid

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128
P = ParamSpec("P")
R = TypeVar("R")
_ADMIN_SCOPE = "*"  # the admin token's keys; never a project name (NAME_PATTERN)
_ANSWER_PENDING = "idempotency.answer_pending"  # session.info: the wrapper commits, with the answer


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


def commit(session: Session, *, then: Callable[[], None] | None = None) -> None:
    """End a create route's work: commit, then call `then` (waking the job runner, say).

    Under an `Idempotency-Key` this only flushes: `idempotent` commits once the answer is recorded with it.
    """
    if then is not None:
        event.listen(session, "after_commit", lambda _: then(), once=True)
    if session.info.get(_ANSWER_PENDING):
        session.flush()
    else:
        session.commit()


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
        keyed, session = idempotency_key, idempotency_key.session
        recorded = _recorded(keyed)
        if recorded is not None:
            return recorded
        session.info[_ANSWER_PENDING] = True
        try:
            answer = endpoint(*args, **kwargs)
            keys.record_answer(
                session,
                scope=keyed.scope,
                key=keyed.key,
                method=keyed.method,
                path=keyed.path,
                request_hash=keyed.request_hash,
                status=keyed.status,
                response=jsonable_encoder(answer),
            )
            session.info.pop(_ANSWER_PENDING)
            session.commit()
        except Exception:
            session.info.pop(_ANSWER_PENDING, None)
            session.rollback()
            # A request with the same key that acted meanwhile (its create made ours fail, or its key row
            # beat ours): its answer is this request's too.
            recorded = _recorded(keyed)
            if recorded is not None:
                return recorded
            raise
        return answer

    # FastAPI reads the parameters from the signature: the route's own, and the key's dependency.
    route.__signature__ = signature.replace(parameters=[*signature.parameters.values(), extra])  # type: ignore[attr-defined]
    return route


def _recorded(keyed: KeyedRequest) -> JSONResponse | None:
    """The answer recorded for the request's key, or None; 422 when the key was used for another request.

    Read in a transaction of its own, ended at once: a request holds nothing while it has not acted.
    """
    found = keys.find_key(keyed.session, scope=keyed.scope, key=keyed.key)
    answer = None if found is None else (found.request_hash, found.method, found.path, found.status, found.response)
    keyed.session.commit()
    if answer is None:
        return None
    request_hash, method, path, status, response = answer
    assert status is not None  # find_key reads answered keys only
    if request_hash != keyed.request_hash:
        raise Invalid(
            HEADER,
            f"{keyed.key!r} was used for another request ({method} {path} with another body); "
            "a new request needs a new key",
        )
    return JSONResponse(response, status_code=status)
