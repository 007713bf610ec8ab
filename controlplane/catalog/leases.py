"""Named leases in the catalog: locks that keep work apart across every control plane sharing it.

A lease is a row (name, holder, token, expires_at). `hold` takes it when no row exists or the row's lease
has expired, renews it from a background thread every third of its ttl while the block runs, and deletes it
when the block ends. A holder killed with -9 stops renewing: its lease is taken over once it has expired,
so work it guarded resumes elsewhere after at most `ttl` seconds. Nothing lives on the host: the catalog's
clock (the server's, on PostgreSQL) decides expiry, and the row is the lock.

Each hold gets a token of its own, so two threads of one process (one `holder`) exclude each other too.
A hold that cannot renew for longer than its ttl (the catalog was unreachable, or another took the lease)
sets `cancel`, so cancellable work under it stops rather than run unguarded.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog.clock import now
from controlplane.catalog.db import transaction
from controlplane.catalog.models import Lease

log = logging.getLogger(__name__)
# The longest pause between two tries of a lease someone else holds.
_MAX_POLL = 0.5


class LeaseTimeout(TimeoutError):
    """The lease stayed held by someone else for the whole wait."""

    def __init__(self, name: str, holder: str | None, timeout: float) -> None:
        super().__init__(f"lease {name!r} is still held by {holder or 'another holder'} after {timeout:g} s")
        self.name = name
        self.holder = holder


class LeaseCancelled(Exception):
    """The wait for a lease was cancelled."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the wait for lease {name!r} was cancelled")
        self.name = name


def process_holder() -> str:
    """This process's holder id, `host:pid:random`: unique even across restarts that reuse a pid."""
    return _holder_of(os.getpid())


@functools.cache
def _holder_of(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{secrets.token_hex(4)}"


@contextmanager
def hold(
    sessions: sessionmaker[Session],
    name: str,
    *,
    holder: str,
    ttl: float,
    timeout: float,
    cancel: threading.Event | None = None,
) -> Iterator[None]:
    """Hold lease `name` for the block, as `holder`, renewing it every ttl/3; released when the block ends.

    Waits (polling) until the lease is free or expired: LeaseTimeout naming its holder after `timeout`
    seconds, LeaseCancelled as soon as `cancel` is set.
    """
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, not {ttl!r}")
    token = secrets.token_hex(16)
    _acquire(sessions, name, holder=holder, token=token, ttl=ttl, timeout=timeout, cancel=cancel)
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(sessions, name, token, ttl, stop, cancel), name=f"lease-{name}", daemon=True
    )
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        _release(sessions, name, token)


def current_holder(sessions: sessionmaker[Session], name: str) -> str | None:
    """Who holds lease `name` now, or None when no one does (never taken, released, or expired)."""
    with transaction(sessions) as session:
        lease = session.get(Lease, name)
        if lease is None or lease.expires_at <= now(session):
            return None
        return lease.holder


def _acquire(
    sessions: sessionmaker[Session],
    name: str,
    *,
    holder: str,
    token: str,
    ttl: float,
    timeout: float,
    cancel: threading.Event | None,
) -> None:
    deadline = time.monotonic() + timeout
    interval = min(ttl / 4, _MAX_POLL)
    while True:
        taken, other = _try_take(sessions, name, holder=holder, token=token, ttl=ttl)
        if taken:
            return
        if cancel is not None and cancel.is_set():
            raise LeaseCancelled(name)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LeaseTimeout(name, other, timeout)
        pause = min(interval, remaining)
        if cancel is not None:
            if cancel.wait(pause):
                raise LeaseCancelled(name)
        else:
            time.sleep(pause)


def _try_take(
    sessions: sessionmaker[Session], name: str, *, holder: str, token: str, ttl: float
) -> tuple[bool, str | None]:
    """Take the lease if it is free or expired: (True, holder) or (False, who holds it)."""
    try:
        with transaction(sessions) as session:
            timestamp = now(session)
            values = {
                "holder": holder,
                "token": token,
                "acquired_at": timestamp,
                "expires_at": timestamp + timedelta(seconds=ttl),
            }
            expired = update(Lease).where(Lease.name == name, Lease.expires_at <= timestamp)
            if _changed(session, expired.values(**values)):
                return True, holder
            current = session.scalar(select(Lease.holder).where(Lease.name == name))
            if current is not None:
                return False, current
            session.add(Lease(name=name, **values))
    except IntegrityError:  # another holder inserted the row first
        return False, None
    return True, holder


def _renew(
    sessions: sessionmaker[Session],
    name: str,
    token: str,
    ttl: float,
    stop: threading.Event,
    cancel: threading.Event | None,
) -> None:
    renewed_at = time.monotonic()
    while not stop.wait(ttl / 3):
        try:
            with transaction(sessions) as session:
                ours = update(Lease).where(Lease.name == name, Lease.token == token)
                kept = _changed(session, ours.values(expires_at=now(session) + timedelta(seconds=ttl)))
        except Exception:  # the catalog is unreachable for now: the lease lasts until its expiry
            log.exception("could not renew lease %r", name)
            kept = time.monotonic() - renewed_at < ttl
        else:
            renewed_at = time.monotonic()
        if not kept:
            log.error("lost lease %r: another holder may have taken it; cancelling the work under it", name)
            if cancel is not None:
                cancel.set()
            return


def _release(sessions: sessionmaker[Session], name: str, token: str) -> None:
    try:
        with transaction(sessions) as session:
            _changed(session, delete(Lease).where(Lease.name == name, Lease.token == token))
    except Exception:  # it expires by itself
        log.exception("could not release lease %r; it expires after its ttl", name)


def _changed(session: Session, statement: Any) -> bool:
    """Run an UPDATE or DELETE of one lease row; whether it matched the row."""
    result = cast("CursorResult[Any]", session.execute(statement, execution_options={"synchronize_session": False}))
    return result.rowcount == 1
