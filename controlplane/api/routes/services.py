"""/v1/projects/{project}/services: create, read, change and delete PostgreSQL services.

Writes are one transaction each: the catalog row and the job that makes it real are committed
together, so a crash never leaves a service the catalog does not know or a job without a service.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from controlplane.api import pagination, responses
from controlplane.api.dependencies import CatalogReadsDep, ProjectDep, RuntimeDep, SessionDep, TokenDep
from controlplane.api.idempotency import commit, idempotent
from controlplane.api.models.services import (
    ForkFrom,
    RestoredFrom,
    ServiceCreate,
    ServiceList,
    ServicePublic,
    ServiceUpdate,
    UserConfig,
)
from controlplane.catalog import jobs, services
from controlplane.catalog.models import Service
from controlplane.catalog.projects import ensure_project
from controlplane.domain import forks, validation
from controlplane.domain.errors import Conflict, Invalid
from controlplane.domain.services import check_deletable, check_idle, existing_service
from controlplane.engine.mariadb import service_uri
from controlplane.fork_plan import ForkPlan
from controlplane.jobs.engines import MYSQL
from controlplane.jobs.kinds import (
    APPLY_PLAN,
    CREATE_SERVICE,
    DELETE_SERVICE,
    FORK_SERVICE,
    MIGRATE_SERVICE,
    SERVICE_KINDS,
)
from controlplane.runtime import Runtime

router = APIRouter(prefix="/v1/projects/{project}/services", tags=["services"], responses=responses.PROJECT_ERRORS)
BUSY = "a job is changing the service (creating, moving, replanning or deleting it); try again when it is RUNNING."
ADMIN_USER = "dbaasadmin"


@router.get("", response_model=ServiceList)
async def list_services(
    project: ProjectDep,
    reads: CatalogReadsDep,
    page_size: pagination.PageSize = pagination.PAGE_SIZE_DEFAULT,
    page_token: pagination.PageToken = None,
) -> ServiceList:
    """The project's services by name, a page at a time."""
    after = pagination.after(page_token, str, str)

    def read(session: Session) -> ServiceList:
        found = services.list_services(session, project=project, after=after, limit=page_size + 1)
        shown, next_page_token = pagination.page(found, page_size, lambda service: (service.name, service.project))
        return ServiceList(services=[public(s) for s in shown], next_page_token=next_page_token)

    return await reads(read)


@router.post(
    "",
    response_model=ServicePublic,
    status_code=status.HTTP_201_CREATED,
    responses=responses.conflict(
        "a service of this name exists in the project.", "a service named 'orders' already exists in 'acme'", "name"
    ),
)
@idempotent
def create_service(
    body: ServiceCreate, project: ProjectDep, session: SessionDep, runtime: RuntimeDep, token: TokenDep
) -> ServicePublic:
    """Answers at once with state REBUILDING; a job creates and starts the server, or with `fork_from`
    restores another service's backups into it."""
    settings = runtime.settings
    validation.check_cloud(settings, body.cloud)
    validation.check_plan(body.plan)
    fork_plan, service_type = None, body.service_type
    if body.fork_from is not None:
        fork_plan, service_type = forks.resolve(
            session, token, project, body.fork_from, body.cloud, settings, service_type=body.service_type
        )
    elif service_type is None:
        raise Invalid("service_type", 'required: the database engine, "pg" or "mysql" (a fork takes its source\'s)')
    version = validation.check_service_type(service_type, body.version)
    validation.check_backup_regions(
        settings, body.user_config.additional_backup_regions, service_type=service_type, cloud=body.cloud
    )
    ensure_project(session, name=project)
    try:
        service = services.create_service(
            session,
            project=project,
            name=body.name,
            service_type=service_type,
            cloud=body.cloud,
            plan=body.plan,
            version=version,
            user_config=body.user_config.model_dump(),
            termination_protection=body.termination_protection,
            username=ADMIN_USER,
            password=secrets.token_urlsafe(24),
            data_dir=str(data_dir(runtime, body.cloud, project, body.name)),
            fork_from=fork_plan.dump() if fork_plan else None,
        )
    except services.DuplicateService as err:
        raise Conflict(f"a service named {body.name!r} already exists in {project!r}", "name") from err
    jobs.enqueue_job(
        session, kind=FORK_SERVICE if fork_plan else CREATE_SERVICE, project=project, service_id=service.id
    )
    commit(session, then=runtime.runner.wake)
    return public(service)


@router.get("/{service}", response_model=ServicePublic)
async def get_service(service: str, project: ProjectDep, reads: CatalogReadsDep) -> ServicePublic:
    return await reads(lambda session: public(existing_service(session, project=project, name=service)))


@router.patch(
    "/{service}",
    response_model=ServicePublic,
    responses=responses.conflict(
        "a new plan or cloud while " + BUSY,
        "service 'orders' is busy (apply_plan in progress); try again when it is RUNNING",
        "service",
    ),
)
def update_service(
    service: str, body: ServiceUpdate, project: ProjectDep, session: SessionDep, runtime: RuntimeDep
) -> ServicePublic:
    """Plan changes restart the server with the plan's settings; a cloud change migrates it, data kept."""
    found = existing_service(session, project=project, name=service)
    cloud = body.cloud if body.cloud is not None else found.cloud
    if body.cloud is not None:
        validation.check_cloud(runtime.settings, body.cloud)
    if body.plan is not None:
        validation.check_plan(body.plan)
    user_config = body.user_config
    if user_config is not None or body.cloud is not None:
        validation.check_backup_regions(
            runtime.settings,
            (user_config or UserConfig(**found.user_config)).additional_backup_regions,
            service_type=found.service_type,
            cloud=cloud,
        )
    moving = body.cloud is not None and body.cloud != found.cloud
    replanning = body.plan is not None and body.plan != found.plan
    if moving or replanning:
        check_idle(session, found)
    changes: dict[str, object] = {}
    if user_config is not None:
        changes["user_config"] = user_config.model_dump()
    if body.termination_protection is not None:
        changes["termination_protection"] = body.termination_protection
    if replanning:
        changes["plan"] = body.plan
    if moving or replanning:
        changes.update(state="REBUILDING", state_message=None)
    services.update_service(session, service=found, **changes)
    if moving:
        jobs.enqueue_job(
            session,
            kind=MIGRATE_SERVICE,
            project=project,
            service_id=found.id,
            payload={"cloud": cloud, "data_dir": str(data_dir(runtime, cloud, project, found.name))},
        )
    elif replanning:
        jobs.enqueue_job(session, kind=APPLY_PLAN, project=project, service_id=found.id)
    session.commit()
    runtime.runner.wake()
    if user_config is not None:
        runtime.replicator.wake()  # enabling the feature copies the existing backups now
    return public(found)


@router.delete(
    "/{service}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ServicePublic,
    responses=responses.conflict(
        "termination_protection is on, or " + BUSY,
        "service 'orders' has termination_protection on; turn it off first",
        "termination_protection",
    ),
)
def delete_service(service: str, project: ProjectDep, session: SessionDep, runtime: RuntimeDep) -> ServicePublic:
    """Stops the server and removes its data; refused while termination_protection is on."""
    found = existing_service(session, project=project, name=service)
    check_deletable(found)
    if found.state != "DELETING":
        # Backup jobs of the service need not end first: the deletion waits for them.
        check_idle(session, found, kinds=SERVICE_KINDS)
        services.update_service(session, service=found, state="DELETING", state_message=None)
        jobs.enqueue_job(session, kind=DELETE_SERVICE, project=project, service_id=found.id)
        session.commit()
        runtime.runner.wake()
    return public(found)


def data_dir(runtime: Runtime, cloud: str, project: str, name: str) -> Path:
    region = runtime.settings.region(cloud)
    assert region is not None, "cloud was validated"
    # The names follow the name rule; the check holds even if a directory on the way became a link.
    return validation.contained_path(region.services_dir, project, name, field="name")


def public(service: Service) -> ServicePublic:
    uri = None
    if service.host and service.port:
        uri = (
            service_uri(username=service.username, password=service.password, host=service.host, port=service.port)
            if service.service_type == MYSQL
            else f"postgres://{service.username}:{service.password}@{service.host}:{service.port}/postgres"
        )
    return ServicePublic(
        project=service.project,
        name=service.name,
        service_type=service.service_type,
        version=service.version,
        cloud=service.cloud,
        plan=service.plan,
        user_config=UserConfig(**service.user_config),
        termination_protection=service.termination_protection,
        state=service.state,
        state_message=service.state_message,
        host=service.host,
        port=service.port,
        username=service.username,
        password=service.password,
        uri=uri,
        created_at=service.created_at,
        updated_at=service.updated_at,
        archive_gap=service.archive_gap,
        **_fork_fields(service.fork_from),
    )


def _fork_fields(document: dict[str, Any] | None) -> dict[str, Any]:
    if not document:
        return {}
    plan = ForkPlan.load(document)
    request, result = plan.request, plan.result
    return {
        "fork_from": ForkFrom(
            project=request.project,
            service=request.service,
            backup=request.backup,
            recovery_target_time=request.recovery_target_time,
        ),
        "restored_from": RestoredFrom(**result.model_dump()) if result else None,
    }
