"""Backup strategies (`dbaas_backup_strategy`): the container, schedule and retention of new backups, and
when the newest backups are restore-tested.

A strategy belongs to a project (`service` None) or to one service of it, named; a service's strategy
wins over its project's (docs/design.md).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.catalog.clock import now
from controlplane.catalog.models import BackupStrategy
from controlplane.catalog.projects import ensure_project


class StrategyExists(Exception):
    """A create-only put found the strategy already there."""


def put_strategy(
    session: Session,
    *,
    project: str,
    service: str | None,
    container: str,
    schedule: str | None = None,
    retention_full_count: int | None = None,
    retention_days: int | None = None,
    restore_test_schedule: str | None = None,
    create_only: bool = False,
) -> BackupStrategy:
    """Create the strategy of `project` (service None) or of its `service`, or replace every field of it;
    with `create_only`, raise StrategyExists instead of replacing one (also one made meanwhile)."""
    strategy = get_strategy(session, project=project, service=service)
    if strategy is not None and create_only:
        raise StrategyExists(project, service)
    if strategy is None:
        ensure_project(session, name=project)
        timestamp = now(session)
        strategy = BackupStrategy(
            project=project,
            service=service,
            container=container,
            schedule=schedule,
            retention_full_count=retention_full_count,
            retention_days=retention_days,
            restore_test_schedule=restore_test_schedule,
            created_at=timestamp,
            updated_at=timestamp,
        )
        try:
            # Another transaction may create the same strategy meanwhile: the unique constraint (or,
            # for the project's, the partial unique index) decides, and the loser replaces it instead
            # (or, create-only, fails).
            with session.begin_nested():
                session.add(strategy)
            return strategy
        except IntegrityError:
            found = get_strategy(session, project=project, service=service)
            if found is None:
                raise
            if create_only:
                raise StrategyExists(project, service) from None
            strategy = found
    strategy.container = container
    strategy.schedule = schedule
    strategy.retention_full_count = retention_full_count
    strategy.retention_days = retention_days
    strategy.restore_test_schedule = restore_test_schedule
    strategy.updated_at = now(session)
    session.flush()
    return strategy


def get_strategy(session: Session, *, project: str, service: str | None) -> BackupStrategy | None:
    """The strategy of `project` (service None) or of its `service`, or None; never falls back to the project's."""
    return session.scalar(select(BackupStrategy).where(BackupStrategy.project == project, _scope(service)))


def delete_strategy(session: Session, *, strategy: BackupStrategy) -> None:
    """Remove the strategy; new backups fall back to the next one in precedence."""
    session.delete(strategy)
    session.flush()


def list_strategies(session: Session) -> list[BackupStrategy]:
    """Every strategy of every project (for the scheduler): by project, its own first, then by service."""
    return list(
        session.scalars(
            select(BackupStrategy).order_by(
                BackupStrategy.project, BackupStrategy.service.is_not(None), BackupStrategy.service
            )
        )
    )


def effective_container(session: Session, *, project: str, service: str, requested: str | None, default: str) -> str:
    """The container of a new backup: `requested` > the service's strategy > the project's > `default`."""
    if requested is not None:
        return requested
    for scope in (service, None):
        strategy = get_strategy(session, project=project, service=scope)
        if strategy is not None:
            return strategy.container
    return default


def effective_retention(session: Session, *, project: str, service: str) -> tuple[int | None, int | None]:
    """(full_count, days) of the service's strategy if it sets any retention, else of the project's, else Nones."""
    for scope in (service, None):
        strategy = get_strategy(session, project=project, service=scope)
        if strategy is not None and (strategy.retention_full_count is not None or strategy.retention_days is not None):
            return strategy.retention_full_count, strategy.retention_days
    return None, None


def _scope(service: str | None) -> ColumnElement[bool]:
    return BackupStrategy.service.is_(None) if service is None else BackupStrategy.service == service
