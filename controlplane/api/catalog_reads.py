"""Where an API read of the catalog runs: on the event loop when the catalog is the embedded SQLite file, in a
worker thread when it is PostgreSQL.

A read of the SQLite file never waits (in WAL mode a reader takes no lock) and costs tens of microseconds,
less than handing it to a worker thread and back; a read of PostgreSQL is a network round trip, and a server
that does not answer must not hold up every other request, so it gets a thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


class CatalogReads:
    def __init__(self, read_sessions: sessionmaker[Session]) -> None:
        self._sessions = read_sessions
        self._on_loop = read_sessions.kw["bind"].dialect.name == "sqlite"

    async def __call__(self, read: Callable[[Session], T]) -> T:
        """`read` run with a session of its own that only reads (and takes no write lock)."""
        if self._on_loop:
            return self._run(read)
        return await run_in_threadpool(self._run, read)

    def _run(self, read: Callable[[Session], T]) -> T:
        with self._sessions() as session:
            return read(session)
