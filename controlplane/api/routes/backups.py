"""/v1/projects/{project}/services/{service}/backups: take, import, list, change, verify and delete backups.

A new backup answers at once with state Pending (NuoDB); a job runs pgBackRest and moves it to
Running, then Succeeded or Failed. The row and its job are committed together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from controlplane.api import pagination, responses
from controlplane.api.dependencies import CatalogReadsDep, ProjectDep, RuntimeDep, SessionDep, TokenDep
from controlplane.api.idempotency import commit, idempotent
from controlplane.api.models.backups import (
    LABEL_KEY,
    BackupCreate,
    BackupList,
    BackupPublic,
    BackupUpdate,
    ImportSource,
    RecoveryWindow,
    Replica,
    RestoreTest,
)
from controlplane.catalog import backups, jobs, replication
from controlplane.catalog.models import Backup, BackupReplica
from controlplane.domain import backups as domain_backups
from controlplane.domain.backups import generated_name
from controlplane.domain.errors import Invalid, NotFound
from controlplane.jobs import kinds
from controlplane.runtime import Runtime

router = APIRouter(
    prefix="/v1/projects/{project}/services/{service}/backups", tags=["backups"], responses=responses.PROJECT_ERRORS
)
TAKE_CONFLICT = responses.conflict(
    "the service is not RUNNING, eight backups of it wait already, the name is taken, or the parent has not "
    "succeeded yet.",
    "a backup named 'nightly' already exists for service 'orders'",
    "name",
)


@router.get("", response_model=BackupList)
async def list_backups(
    service: str,
    project: ProjectDep,
    reads: CatalogReadsDep,
    state: Annotated[str | None, Query(max_length=16)] = None,
    label: Annotated[list[str] | None, Query(description="key=value; repeat to require several")] = None,
    page_size: pagination.PageSize = pagination.PAGE_SIZE_DEFAULT,
    page_token: pagination.PageToken = None,
) -> BackupList:
    """The service's backups oldest first, a page at a time."""
    labels = dict(_label_filter(item) for item in label or [])
    after = pagination.after(page_token, datetime, int)

    def read(session: Session) -> BackupList:
        found = backups.list_backups_with_copies(
            session,
            project=project,
            service=service,
            states=[state] if state else None,
            labels=labels or None,
            after=after,
            limit=page_size + 1,
        )
        shown, next_page_token = pagination.page(found, page_size, lambda item: (item[0].created_at, item[0].id))
        return BackupList(backups=[public(*item) for item in shown], next_page_token=next_page_token)

    return await reads(read)


@router.post("", response_model=BackupPublic, status_code=status.HTTP_202_ACCEPTED, responses=TAKE_CONFLICT)
@idempotent
def create_backup(
    service: str, body: BackupCreate, project: ProjectDep, session: SessionDep, runtime: RuntimeDep
) -> BackupPublic:
    """Takes a backup now: full by default, incremental with `parent` or `incremental`."""
    if body.import_source is not None:
        raise Invalid("import_source", "an import names its backup: use PUT …/backups/{name}")
    return _take(session, runtime, project, service, body.name or generated_name(), body)


@router.put("/{name}", response_model=BackupPublic, status_code=status.HTTP_202_ACCEPTED, responses=TAKE_CONFLICT)
@idempotent
def put_backup(
    service: str,
    name: str,
    body: BackupCreate,
    project: ProjectDep,
    token: TokenDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> BackupPublic:
    """Takes a backup with this name, or registers an existing one given by `import_source`."""
    if body.name is not None and body.name != name:
        raise Invalid("name", f"the body names {body.name!r} but the path names {name!r}")
    domain_backups.check_name(name)
    if body.import_source is not None:
        return _import(session, runtime, token.project, project, service, name, body)
    return _take(session, runtime, project, service, name, body)


@router.get("/{name}", response_model=BackupPublic)
async def get_backup(service: str, name: str, project: ProjectDep, reads: CatalogReadsDep) -> BackupPublic:
    def read(session: Session) -> BackupPublic:
        found = backups.get_backup_with_copies(session, project=project, service=service, name=name)
        if found is None:
            raise _not_found(service, name)
        return public(*found)

    return await reads(read)


@router.patch("/{name}", response_model=BackupPublic)
def update_backup(
    service: str, name: str, body: BackupUpdate, project: ProjectDep, session: SessionDep
) -> BackupPublic:
    """Only the description and labels change in place."""
    backup = _find(session, project, service, name)
    changes = body.model_dump(exclude_none=True)
    if changes:
        backups.update_backup(session, backup=backup, **changes)
        session.commit()
    return public(backup, _copies(session, backup))


@router.delete("/{name}", status_code=status.HTTP_202_ACCEPTED, response_model=BackupPublic)
def delete_backup(
    service: str, name: str, project: ProjectDep, session: SessionDep, runtime: RuntimeDep
) -> BackupPublic:
    """Deletes the backup and the incrementals built on it (never a broken chain): always accepted.

    The backup leaves the API once its job has ended; one still being taken is deleted when it has
    finished. Data pgBackRest must keep for now (the only full backup of its repository) is expired
    automatically once a newer full backup exists there, or with the service's stanza once nothing needs
    it. An imported backup's data is never deleted: the catalog forgets it.
    """
    backup = _find(session, project, service, name)
    if backup.state_message != "deleting":
        dependants = backups.children(session, backup=backup)
        for doomed in [*dependants, backup]:
            backups.update_backup(session, backup=doomed, state_message="deleting")
        jobs.enqueue_job(
            session,
            kind=kinds.DELETE_BACKUP,
            project=project,
            service_id=backup.service_id,
            payload={"backup_id": backup.id, "with_children": [b.id for b in dependants]},
        )
        session.commit()
        runtime.runner.wake()
    return public(backup, _copies(session, backup))


@router.post(
    "/{name}/verify",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BackupPublic,
    responses=responses.conflict(
        "the backup has not finished: only a finished backup is verified.",
        "backup 'nightly' is Running: only a finished backup is verified",
        "name",
    ),
)
def verify_backup(
    service: str, name: str, project: ProjectDep, session: SessionDep, runtime: RuntimeDep
) -> BackupPublic:
    """Runs `pgbackrest verify` on the backup; the result lands in verify_state and verify_message."""
    backup = _find(session, project, service, name)
    domain_backups.check_verifiable(backup)
    jobs.enqueue_job(
        session,
        kind=kinds.VERIFY_BACKUP,
        project=project,
        service_id=backup.service_id,
        payload={"backup_id": backup.id},
    )
    session.commit()
    runtime.runner.wake()
    return public(backup, _copies(session, backup))


def _take(
    session: Session, runtime: Runtime, project: str, service: str, name: str, body: BackupCreate
) -> BackupPublic:
    backup = domain_backups.take(
        session,
        project=project,
        service=service,
        name=name,
        container=body.container,
        parent=body.parent,
        incremental=body.incremental,
        description=body.description,
        labels=body.labels,
    )
    commit(session, then=runtime.runner.wake)
    return public(backup, _copies(session, backup))


def _import(
    session: Session, runtime: Runtime, caller: str | None, project: str, service: str, name: str, body: BackupCreate
) -> BackupPublic:
    source = body.import_source
    assert source is not None
    backup = domain_backups.import_backup(
        session,
        runtime.settings,
        caller=caller,
        project=project,
        service=service,
        name=name,
        handle=source.backup_handle,
        plugin=source.backup_plugin,
        description=body.description,
        labels=body.labels,
    )
    commit(session)
    return public(backup, _copies(session, backup))


def _label_filter(item: str) -> tuple[str, str]:
    key, separator, value = item.partition("=")
    if not separator or not LABEL_KEY.fullmatch(key):
        raise Invalid("label", f"expected key=value with a label key, got {item[:80]!r}")
    return key, value


def _find(session: Session, project: str, service: str, name: str) -> Backup:
    backup = backups.get_backup(session, project=project, service=service, name=name)
    if backup is None:
        raise _not_found(service, name)
    return backup


def _not_found(service: str, name: str) -> NotFound:
    return NotFound(f"backup {name!r} of service {service!r}", "name")


def _copies(session: Session, backup: Backup) -> list[BackupReplica]:
    return replication.replicas_of(session, backup_ids=[backup.id])[backup.id]


def public(backup: Backup, copies: list[BackupReplica]) -> BackupPublic:
    imported = (
        None
        if backup.owned
        else ImportSource(backup_handle=backup.backup_handle or "", backup_plugin=backup.backup_plugin)
    )
    return BackupPublic(
        project=backup.project,
        service=backup.service,
        name=backup.name,
        description=backup.description,
        labels=backup.labels,
        parent=backup.parent,
        incremental=backup.type == "incr",
        type="incremental" if backup.type == "incr" else "full",
        container=backup.container,
        import_source=imported,
        state=backup.state,
        state_message=backup.state_message,
        ready_to_use=backup.state == "Succeeded"
        and backup.verify_state != "failed"
        and backup.restore_test_state != "failed",
        size_bytes=backup.size_bytes,
        backup_handle=backup.backup_handle,
        backup_plugin=backup.backup_plugin,
        region=backup.region,
        started_at=backup.started_at,
        finished_at=backup.finished_at,
        recovery_window=RecoveryWindow(start=backup.recovery_window_start, end=backup.recovery_window_end),
        replicas=[
            Replica(region=c.region, state=c.state, state_message=c.state_message, replicated_at=c.replicated_at)
            for c in copies
        ],
        verify_state=backup.verify_state,
        verify_message=backup.verify_message,
        verified_at=backup.verified_at,
        last_restore_test=None
        if backup.restore_test_state is None
        else RestoreTest(
            state=backup.restore_test_state,
            tested_at=backup.restore_tested_at,
            duration_seconds=backup.restore_test_duration_seconds,
            message=backup.restore_test_message,
        ),
        created_at=backup.created_at,
    )
