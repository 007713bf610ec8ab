"""Deferred expiries: data of deleted backups that pgBackRest cannot expire yet (see models.DeferredExpiry)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.catalog.clock import now
from controlplane.catalog.models import DeferredExpiry


def defer_expiry(
    session: Session, *, service_id: int | None, project: str, stanza: str, repo_path: str, container: str, label: str
) -> DeferredExpiry:
    """Remember that backup `label` of `stanza` in `repo_path` must be expired later; idempotent."""
    found = session.scalar(
        select(DeferredExpiry).where(
            DeferredExpiry.stanza == stanza, DeferredExpiry.repo_path == repo_path, DeferredExpiry.label == label
        )
    )
    if found is not None:
        return found
    deferred = DeferredExpiry(
        service_id=service_id,
        project=project,
        stanza=stanza,
        repo_path=repo_path,
        container=container,
        label=label,
        created_at=now(session),
    )
    session.add(deferred)
    session.flush()
    return deferred


def deferred_expiries(session: Session, *, stanza: str) -> list[DeferredExpiry]:
    """The stanza's deferred expiries, oldest first."""
    query = select(DeferredExpiry).where(DeferredExpiry.stanza == stanza).order_by(DeferredExpiry.id)
    return list(session.scalars(query))


def forget_expiry(session: Session, *, expiry_id: int) -> None:
    """Drop a deferred expiry once its data is gone."""
    found = session.get(DeferredExpiry, expiry_id)
    if found is not None:
        session.delete(found)
        session.flush()
