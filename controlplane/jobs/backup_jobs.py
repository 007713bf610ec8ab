"""Jobs that take, delete and verify backups with pgBackRest.

Idempotent like every job: a backup job resumed after a crash first looks in the repository for a
backup annotated with its id, so a backup that finished while the control plane was down is
adopted rather than taken twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from controlplane.catalog import backups, jobs, repositories, services, strategies
from controlplane.catalog.db import transaction
from controlplane.catalog.models import Backup, Service
from controlplane.jobs import kinds
from controlplane.jobs.archiving import Archiving, create_stanza
from controlplane.jobs.runner import JobContext
from controlplane.jobs.service_jobs import ServiceJobs

log = logging.getLogger(__name__)
ANNOTATION = "dbaas-backup-id"


class BackupJobs:
    def __init__(
        self, archiving: Archiving, service_jobs: ServiceJobs, on_backup: Callable[[], None] = lambda: None
    ) -> None:
        self._archiving = archiving
        self._service_jobs = service_jobs
        self._on_backup = on_backup  # the replicator's wake-up: copy the new backup to other regions now
        self._expiries = service_jobs.expiries

    def take(self, context: JobContext) -> None:
        backup_id = int(context.payload["backup_id"])
        with transaction(context.sessions) as session:
            taking = backup_to_take(session, context)
            if taking is None:
                return
            backup, service = taking
            known = {r.repo_index for r in repositories.list_repositories(session, service_id=service.id)}
            repo = self._archiving.ensure_repository(session, service, backup.container)
            new_repository = repo.repo_index not in known
            postgres = self._service_jobs.driver(service)
            backrest = self._archiving.driver(session, service, postgres)
            stanza = self._archiving.stanza_name(service)
            mark_running(session, backup, stanza=stanza, repo_path=repo.path)
            repo_index, repo_path = repo.repo_index, repo.path
        # A new container is a new repository: configuration (archive-push included) and stanza follow.
        backrest.write_config()
        if new_repository:
            create_stanza(backrest)
        # Only a resumed job can find its backup already taken; a first attempt saves the info call.
        done = (
            []
            if context.attempt == 1
            else [info for info in backrest.info(repo=repo_index) if info.annotations.get(ANNOTATION) == str(backup_id)]
        )
        info = (
            done[-1]
            if done
            else backrest.backup(
                repo=repo_index,
                type=backup.type,
                annotations={ANNOTATION: str(backup_id), "dbaas-backup-name": backup.name},
                cancel=context.cancel,
            )
        )
        self.succeeded(
            context,
            backup,
            label=info.label,
            size_bytes=info.size_bytes,
            repo_size_bytes=info.repo_size_bytes,
            started_at=info.started_at,
            finished_at=info.finished_at,
            backup_handle=handle(repo_path, stanza, info.label),
        )
        if backup.type == "full":
            self._expiries.settle(context.sessions, stanza)

    def succeeded(
        self,
        context: JobContext,
        backup: Backup,
        *,
        label: str,
        size_bytes: int | None,
        repo_size_bytes: int | None,
        started_at: datetime | None,
        finished_at: datetime | None,
        backup_handle: str,
    ) -> None:
        """Record what a backup job took, whatever the engine; then copy it, and apply the retention."""
        with transaction(context.sessions) as session:
            backups.update_backup(
                session,
                backup=_get(session, backup.id),
                state="Succeeded",
                label=label,
                size_bytes=size_bytes,
                repo_size_bytes=repo_size_bytes,
                started_at=started_at,
                finished_at=finished_at,
                recovery_window_start=finished_at,
                backup_handle=backup_handle,
            )
        log.info("backup %s of %s/%s succeeded: %s", backup.name, backup.project, backup.service, label)
        self._on_backup()
        self.apply_retention(context, backup.id)

    def apply_retention(self, context: JobContext, backup_id: int) -> None:
        """Queue the deletion of the full backups (with their incrementals) that the strategy no longer keeps.

        Counted per container; the newest full backup is always kept, whatever its age.
        """
        with transaction(context.sessions) as session:
            backup = _get(session, backup_id)
            full_count, days = strategies.effective_retention(session, project=backup.project, service=backup.service)
            if full_count is None and days is None:
                return
            fulls = [
                b
                for b in backups.list_backups(
                    session, project=backup.project, service=backup.service, states=("Succeeded",)
                )
                if b.owned and b.type == "full" and b.container == backup.container
            ]
            keep = {b.id for b in fulls[-full_count:]} if full_count else {b.id for b in fulls}
            if days is not None:
                cutoff = datetime.now(UTC) - timedelta(days=days)
                keep = {b.id for b in fulls if b.id in keep and (b.finished_at or cutoff) >= cutoff}
            keep.add(fulls[-1].id)
            for expired in (b for b in fulls if b.id not in keep and b.state_message is None):
                dependants = backups.children(session, backup=expired)
                jobs.enqueue_job(
                    session,
                    kind=kinds.DELETE_BACKUP,
                    project=expired.project,
                    service_id=expired.service_id,
                    payload={"backup_id": expired.id, "with_children": [b.id for b in dependants]},
                )
                backups.update_backup(session, backup=expired, state_message="expiring: outside the retention")
                log.info("retention expires backup %s of %s/%s", expired.name, expired.project, expired.service)

    def delete(self, context: JobContext) -> None:
        """Expires the backup with the incrementals built on it (pgBackRest takes them along) and forgets their
        rows. A backup still being taken is deleted once it has finished (the job waits in the queue until then,
        catalog.jobs.WAIT_IN_QUEUE). Data pgBackRest must keep for now
        (the only full backup of its repository) gets a deferred expiry: the rows go all the same."""
        targets, root = deletion_targets(context)
        owned = root is not None and root.owned and root.label and root.repo_path and root.stanza
        waiting: list[str] = []
        if root is not None and owned:
            waiting = self._expiries.expire(
                stanza=str(root.stanza),
                project=root.project,
                repo_path=str(root.repo_path),
                container=root.container,
                label=str(root.label),
            )
        with transaction(context.sessions) as session:
            if root is not None and waiting:
                self._expiries.defer(
                    session,
                    waiting,
                    service_id=root.service_id,
                    project=root.project,
                    stanza=str(root.stanza),
                    container=root.container,
                    label=str(root.label),
                )
                log.info("backup %s of %s/%s: expiry deferred in %s", root.name, root.project, root.service, waiting)
            service_gone = forget_rows(session, targets, root)
        if root is not None and owned and service_gone:
            self._expiries.purge(context.sessions, str(root.stanza), root.project)

    def verify(self, context: JobContext) -> None:
        verify_backup(
            context,
            "pgBackRest",
            lambda stanza, repo_path, label: self._archiving.repository_driver(stanza, repo_path).verify(
                repo=1, label=label
            ),
        )

    def mark_failed(self, context: JobContext, message: str) -> None:
        """A failed backup is Failed; a failed deletion leaves the backup as it was, saying why."""
        if context.kind not in (kinds.TAKE_BACKUP, kinds.DELETE_BACKUP):
            return
        with transaction(context.sessions) as session:
            backup = backups.get_backup_by_id(session, backup_id=int(context.payload["backup_id"]))
            if backup is None:
                return
            if context.kind == kinds.TAKE_BACKUP:
                backups.update_backup(
                    session, backup=backup, state="Failed", state_message=message, finished_at=datetime.now(UTC)
                )
            else:
                backups.update_backup(session, backup=backup, state_message=f"delete failed: {message}")


def handle(repo_path: str | Path, stanza: str, label: str, plugin: str = "pgbackrest") -> str:
    """A backup handle names the repository, the stanza and the backup: <plugin>:<path>#<stanza>/<label>."""
    return f"{plugin}:{repo_path}#{stanza}/{label}"


# What a backup job does the same whatever the engine: the steps around the engine's own work.


def backup_to_take(session: Session, context: JobContext) -> tuple[Backup, Service] | None:
    """The backup a take job takes and its service; None when it has already succeeded (a resumed job)."""
    backup = _get(session, int(context.payload["backup_id"]))
    if backup.state == "Succeeded":
        return None
    service = services.get_service_by_id(session, service_id=context.service_id or -1)
    if service is None:
        raise LookupError(f"the service of backup {backup.name!r} no longer exists")
    return backup, service


def mark_running(session: Session, backup: Backup, *, stanza: str, repo_path: str, **changes: Any) -> None:
    backups.update_backup(
        session,
        backup=backup,
        state="Running",
        state_message=None,
        started_at=datetime.now(UTC),
        stanza=stanza,
        repo_path=repo_path,
        **changes,
    )


def deletion_targets(context: JobContext) -> tuple[list[Backup], Backup | None]:
    """The backups a delete job removes (detached from any session), and the one it was asked for (None: gone)."""
    ids = [int(i) for i in context.payload.get("with_children", [])] + [int(context.payload["backup_id"])]
    with transaction(context.sessions) as session:
        targets = [found for i in ids if (found := backups.get_backup_by_id(session, backup_id=i)) is not None]
        for backup in targets:
            session.expunge(backup)
    return targets, targets[-1] if targets and targets[-1].id == ids[-1] else None


def forget_rows(session: Session, targets: list[Backup], root: Backup | None) -> bool:
    """Deletes the rows of `targets`; True when the service of `root` is gone (its stanza may go too)."""
    for backup in targets:
        found = backups.get_backup_by_id(session, backup_id=backup.id)
        if found is not None:
            backups.delete_backup(session, backup=found)
    return (
        root is None
        or root.service_id is None
        or services.get_service_by_id(session, service_id=root.service_id) is None
    )


def verify_backup(context: JobContext, tool: str, check: Callable[[str, str, str], list[str]]) -> None:
    """Records what `check(stanza, repo_path, label)` finds wrong with the job's backup (nothing: passed)."""
    backup_id = int(context.payload["backup_id"])
    with transaction(context.sessions) as session:
        backup = _get(session, backup_id)
        session.expunge(backup)
    if not (backup.label and backup.repo_path and backup.stanza):
        problems = [f"the backup has no {tool} label: it never completed"]
    else:
        problems = check(backup.stanza, backup.repo_path, backup.label)
    with transaction(context.sessions) as session:
        backups.update_backup(
            session,
            backup=_get(session, backup_id),
            verify_state="failed" if problems else "passed",
            verify_message="; ".join(problems) or None,
            verified_at=datetime.now(UTC),
        )


def _get(session: Session, backup_id: int) -> Backup:
    backup = backups.get_backup_by_id(session, backup_id=backup_id)
    if backup is None:
        raise LookupError(f"backup {backup_id} no longer exists")
    return backup
