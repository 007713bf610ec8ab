"""Backup strategies: where new backups of a project or of one service go, when, how long they stay, and
when the newest are restore-tested."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, status
from sqlalchemy.orm import Session

from controlplane.api import responses
from controlplane.api.dependencies import ProjectDep, SessionDep
from controlplane.api.idempotency import commit, idempotent
from controlplane.api.models.backups import Retention, StrategyPublic, StrategyPut
from controlplane.catalog import strategies
from controlplane.catalog.models import BackupStrategy
from controlplane.domain import validation
from controlplane.domain.errors import Conflict, Invalid, NotFound
from controlplane.domain.services import existing_service

router = APIRouter(prefix="/v1/projects/{project}", tags=["backup strategies"], responses=responses.PROJECT_ERRORS)

# `If-None-Match: *` makes a PUT create-only (RFC 9110 §13.1.2): a client that means to create the strategy
# never silently takes over one that another configuration declared.
EXISTS = responses.conflict(
    "`If-None-Match: *` was sent and the strategy exists already.",
    "the backup strategy of project 'acme' already exists",
    "project",
)
IfNoneMatch = Annotated[
    str | None,
    Header(alias="If-None-Match", description="`*`: only create the strategy; 409 when it already exists."),
]


@router.get("/backup_strategy", response_model=StrategyPublic)
def get_project_strategy(project: ProjectDep, session: SessionDep) -> StrategyPublic:
    return public(_find(session, project, None))


@router.put("/backup_strategy", response_model=StrategyPublic, responses=EXISTS)
@idempotent
def put_project_strategy(
    body: StrategyPut, project: ProjectDep, session: SessionDep, if_none_match: IfNoneMatch = None
) -> StrategyPublic:
    """The project's defaults for every service without a strategy of its own."""
    return _put(session, project, None, body, create_only=_create_only(if_none_match))


@router.delete("/backup_strategy", status_code=status.HTTP_204_NO_CONTENT)
def delete_project_strategy(project: ProjectDep, session: SessionDep) -> None:
    strategies.delete_strategy(session, strategy=_find(session, project, None))
    session.commit()


@router.get("/services/{service}/backup_strategy", response_model=StrategyPublic)
def get_service_strategy(service: str, project: ProjectDep, session: SessionDep) -> StrategyPublic:
    return public(_find(session, project, service))


@router.put("/services/{service}/backup_strategy", response_model=StrategyPublic, responses=EXISTS)
@idempotent
def put_service_strategy(
    service: str, body: StrategyPut, project: ProjectDep, session: SessionDep, if_none_match: IfNoneMatch = None
) -> StrategyPublic:
    """Overrides the project's strategy for this service."""
    existing_service(session, project=project, name=service)
    return _put(session, project, service, body, create_only=_create_only(if_none_match))


@router.delete("/services/{service}/backup_strategy", status_code=status.HTTP_204_NO_CONTENT)
def delete_service_strategy(service: str, project: ProjectDep, session: SessionDep) -> None:
    strategies.delete_strategy(session, strategy=_find(session, project, service))
    session.commit()


def _create_only(if_none_match: str | None) -> bool:
    if if_none_match is not None and if_none_match.strip() != "*":
        raise Invalid("If-None-Match", "only `*` is understood: create the strategy, never replace one")
    return if_none_match is not None


def _put(
    session: Session, project: str, service: str | None, body: StrategyPut, *, create_only: bool
) -> StrategyPublic:
    if body.schedule is not None:
        validation.check_schedule(body.schedule)
    if body.restore_test_schedule is not None:
        validation.check_schedule(body.restore_test_schedule, "restore_test_schedule")
    retention = body.retention or Retention()
    try:
        strategy = strategies.put_strategy(
            session,
            project=project,
            service=service,
            container=body.container,
            schedule=body.schedule,
            retention_full_count=retention.full_count,
            retention_days=retention.days,
            restore_test_schedule=body.restore_test_schedule,
            create_only=create_only,
        )
    except strategies.StrategyExists as err:
        scope = f"service {service!r}" if service else f"project {project!r}"
        raise Conflict(f"the backup strategy of {scope} already exists", "service" if service else "project") from err
    commit(session)
    return public(strategy)


def public(strategy: BackupStrategy) -> StrategyPublic:
    retention = None
    if strategy.retention_full_count is not None or strategy.retention_days is not None:
        retention = Retention(full_count=strategy.retention_full_count, days=strategy.retention_days)
    return StrategyPublic(
        project=strategy.project,
        service=strategy.service,
        container=strategy.container,
        schedule=strategy.schedule,
        retention=retention,
        restore_test_schedule=strategy.restore_test_schedule,
        created_at=strategy.created_at,
        updated_at=strategy.updated_at,
    )


def _find(session: Session, project: str, service: str | None) -> BackupStrategy:
    strategy = strategies.get_strategy(session, project=project, service=service)
    if strategy is None:
        scope = f"service {service!r}" if service else f"project {project!r}"
        raise NotFound(f"backup strategy of {scope}", "service" if service else "project")
    return strategy
