"""Idempotency keys (docs/design.md): a create request's answer, recorded with the key it was made with, in the
same transaction as what it did, so that a retry with that key gets the answer instead of acting again.

A row exists exactly when its request acted: there is no claim that a crash could leave unanswered. The
unique constraint on (scope, key) decides between two requests that carry one key at once: the loser's
transaction, its act with it, fails and is rolled back. Keys expire after `KEY_LIFETIME`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from controlplane.catalog.clock import now
from controlplane.catalog.models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)


def find_key(session: Session, *, scope: str, key: str) -> IdempotencyKey | None:
    """The unexpired record of `key` in `scope`, or None."""
    return session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at >= now(session) - KEY_LIFETIME,
            IdempotencyKey.status.is_not(None),
        )
    )


def record_answer(
    session: Session, *, scope: str, key: str, method: str, path: str, request_hash: str, status: int, response: Any
) -> None:
    """Record the answer of the request made with `key`, in the transaction of what it did.

    Raises IntegrityError (at once, or at commit) when another request recorded `key` first.
    """
    timestamp = now(session)
    # An expired row of the same key would block this one: expired rows go first (an index makes it cheap), and
    # so does an unanswered claim of this key left by an older control plane (its request never acted).
    session.execute(
        delete(IdempotencyKey).where(
            (IdempotencyKey.created_at < timestamp - KEY_LIFETIME)
            | ((IdempotencyKey.scope == scope) & (IdempotencyKey.key == key) & IdempotencyKey.status.is_(None))
        )
    )
    session.add(
        IdempotencyKey(
            scope=scope,
            key=key,
            method=method,
            path=path,
            request_hash=request_hash,
            status=status,
            response=response,
            created_at=timestamp,
        )
    )
    session.flush()
