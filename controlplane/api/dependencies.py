"""Request dependencies: the catalog session (or, for a read, where it runs), the caller's token, and the project
it may see.

They are coroutines: FastAPI runs a plain function dependency in a worker thread, and each such hop costs
more CPU than what these do. Only a token the cache does not hold is looked up in a thread (it queries the
catalog); the route itself, which does the catalog's work, runs in one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from controlplane.api.catalog_reads import CatalogReads
from controlplane.api.errors import ApiError
from controlplane.api.models.services import NAME_PATTERN, NAME_RULE
from controlplane.catalog.tokens import Caller, find_caller
from controlplane.domain.errors import NotFound
from controlplane.runtime import Runtime

_READ_METHODS = frozenset({"GET", "HEAD"})
_bearer = HTTPBearer(auto_error=False, description="A project token from `dbaas-cp token create`.")


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(request: Request, runtime: RuntimeDep) -> AsyncIterator[Session]:
    """One session per request; routes commit what they change in one transaction. A GET only reads: its
    transaction takes no write lock (db.read_sessions). Making and closing a session touch no database
    unless a route used it; closing then returns its connection to the pool."""
    with (runtime.read_sessions if request.method in _READ_METHODS else runtime.sessions)() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_read_session(runtime: RuntimeDep) -> AsyncIterator[Session]:
    """A session that only reads, for a route that changes nothing whatever its method (a report's POST)."""
    with runtime.read_sessions() as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(get_read_session)]


async def get_catalog_reads(request: Request) -> CatalogReads:
    """For a route that only reads: it runs its read through this, on the event loop or in a thread."""
    reads: CatalogReads = request.app.state.catalog_reads
    return reads


CatalogReadsDep = Annotated[CatalogReads, Depends(get_catalog_reads)]


async def current_caller(
    runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)")
    token = credentials.credentials
    caller = runtime.callers.cached(token)
    if caller is None:
        caller = await run_in_threadpool(runtime.callers.fetch, token, partial(_find_caller, runtime))
    if caller is None:
        raise ApiError(401, "unauthorized", "invalid token")
    return caller


def _find_caller(runtime: Runtime, token_hash: str) -> Caller | None:
    """The lookup only reads, in a session of its own: a request's token never takes the write lock."""
    with runtime.read_sessions() as session:
        return find_caller(session, token_hash)


TokenDep = Annotated[Caller, Depends(current_caller)]


# A malformed project name answers 422 naming `project`, whatever the token: the rule is public (it is in
# the OpenAPI document), so the answer tells nothing about any project, and it is the same for the admin
# token, for which a 404 would wrongly suggest that such a project could exist. Authentication comes first:
# FastAPI solves the token dependency before it validates this function's own path parameter.
async def project_access(
    project: Annotated[str, Path(pattern=NAME_PATTERN, description=NAME_RULE)], token: TokenDep
) -> str:
    """The project named in the path, if the token may see it; 404 otherwise, never 403."""
    if token.project is not None and token.project != project:
        raise NotFound(f"project {project!r}", "project")
    return project


ProjectDep = Annotated[str, Depends(project_access)]
