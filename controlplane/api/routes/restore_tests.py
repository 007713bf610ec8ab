"""POST …/backups/{name}/restore_test: prove a backup restores (AWS Backup's restore testing).

Answers at once with the backup, its `last_restore_test` reading `running`; a job restores it into a
scratch server, checks it and records the result there (see controlplane/jobs/restore_tests.py).
"""

from __future__ import annotations

from fastapi import APIRouter, status

from controlplane.api import responses
from controlplane.api.dependencies import ProjectDep, RuntimeDep, SessionDep
from controlplane.api.models.backups import BackupPublic
from controlplane.api.routes.backups import public
from controlplane.catalog import backups, replication
from controlplane.domain.errors import NotFound
from controlplane.jobs.restore_tests import queue_restore_test

router = APIRouter(
    prefix="/v1/projects/{project}/services/{service}/backups", tags=["backups"], responses=responses.PROJECT_ERRORS
)


@router.post(
    "/{name}/restore_test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BackupPublic,
    responses=responses.conflict(
        "the backup has not succeeded, or a restore test of it is running already.",
        "a restore test of backup 'nightly' is running already",
        "name",
    ),
)
def restore_test(
    service: str, name: str, project: ProjectDep, session: SessionDep, runtime: RuntimeDep
) -> BackupPublic:
    """Restores the backup into a scratch server, starts and checks it; the result lands in last_restore_test."""
    backup = backups.get_backup(session, project=project, service=service, name=name)
    if backup is None:
        raise NotFound(f"backup {name!r} of service {service!r}", "name")
    queue_restore_test(session, backup)
    session.commit()
    runtime.runner.wake()
    return public(backup, replication.replicas_of(session, backup_ids=[backup.id])[backup.id])
