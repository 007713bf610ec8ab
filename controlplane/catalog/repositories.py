"""The pgBackRest repositories of services: one per (region, container), numbered repoN for good."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.catalog.clock import now
from controlplane.catalog.models import ServiceRepository


def ensure_repository(
    session: Session, *, service_id: int, region: str, container: str, path: str
) -> ServiceRepository:
    """The service's repository in (region, container), added with the next repo_index if it is new.

    An existing repository is returned as it is (its path and index never change). Two transactions
    adding one at once: the unique constraints refuse the second insert, which then looks again, once.
    """
    found = _find(session, service_id=service_id, region=region, container=container)
    if found is not None:
        return found
    try:
        return _add(session, service_id=service_id, region=region, container=container, path=path)
    except IntegrityError:
        # Lost the race: either the same location (now committed, so found) or the same repo_index.
        found = _find(session, service_id=service_id, region=region, container=container)
        if found is not None:
            return found
        return _add(session, service_id=service_id, region=region, container=container, path=path)


def list_repositories(session: Session, *, service_id: int) -> list[ServiceRepository]:
    """The service's repositories by repo_index."""
    return list(
        session.scalars(
            select(ServiceRepository)
            .where(ServiceRepository.service_id == service_id)
            .order_by(ServiceRepository.repo_index)
        )
    )


def _find(session: Session, *, service_id: int, region: str, container: str) -> ServiceRepository | None:
    return session.scalar(
        select(ServiceRepository).where(
            ServiceRepository.service_id == service_id,
            ServiceRepository.region == region,
            ServiceRepository.container == container,
        )
    )


def _add(session: Session, *, service_id: int, region: str, container: str, path: str) -> ServiceRepository:
    highest = session.scalar(
        select(func.max(ServiceRepository.repo_index)).where(ServiceRepository.service_id == service_id)
    )
    repository = ServiceRepository(
        service_id=service_id,
        region=region,
        container=container,
        path=path,
        repo_index=(highest or 0) + 1,
        created_at=now(session),
    )
    # A savepoint: losing the race must not spoil the caller's transaction.
    with session.begin_nested():
        session.add(repository)
    return repository
