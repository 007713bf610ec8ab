"""Idempotency keys (docs/design.md): the first request made with a key claims it; its answer is recorded so
that a retry with the same key gets that answer instead of acting again.

A claim is a row with no status yet. The unique constraint on (scope, key) decides between two requests
that claim one key at once: the loser sees the winner's row. Keys expire after `KEY_LIFETIME`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.catalog.clock import now
from controlplane.catalog.models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)


def claim_key(
    session: Session, *, scope: str, key: str, method: str, path: str, request_hash: str
) -> IdempotencyKey | None:
    """Claim `key` for this request (status None until `record_answer`); None when it is already taken."""
    timestamp = now(session)
    # An expired row of the same key would block the claim: expired rows go first (an index makes it cheap).
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < timestamp - KEY_LIFETIME))
    row = IdempotencyKey(
        scope=scope, key=key, method=method, path=path, request_hash=request_hash, created_at=timestamp
    )
    try:
        with session.begin_nested():
            session.add(row)
        return row
    except IntegrityError:
        return None


def find_key(session: Session, *, scope: str, key: str) -> IdempotencyKey | None:
    """The unexpired record of `key` in `scope`, claimed or answered, or None."""
    return session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at >= now(session) - KEY_LIFETIME,
        )
    )


def record_answer(session: Session, *, scope: str, key: str, status: int, response: Any) -> None:
    """Record the answer of the request that claimed `key`."""
    row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key))
    if row is not None:
        row.status = status
        row.response = response
        session.flush()


def release_key(session: Session, *, scope: str, key: str) -> None:
    """Forget an unanswered claim: the request failed without acting, so a retry may act."""
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.scope == scope, IdempotencyKey.key == key, IdempotencyKey.status.is_(None)
        )
    )
