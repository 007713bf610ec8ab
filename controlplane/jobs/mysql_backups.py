"""Backup jobs of MySQL services: mariabackup full and incremental backups, their deletion and verification.

The backup's row says what to take (type, and the parent's name for an incremental: any earlier backup of
its chain); the repository is the container's in the service's region. The binary logs are archived
right after a backup, so its recoverable window starts at once. Deleting a backup removes it with every
incremental built on it (engine/mariabackup.py's `remove`), in its repository and in its copies in other
regions, then the archived binary logs no backup needs any more.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from controlplane.catalog import backups, services
from controlplane.catalog.db import transaction
from controlplane.catalog.models import Backup
from controlplane.engine import binlog_archive, mariabackup
from controlplane.jobs.archiving import Archiving
from controlplane.jobs.backup_jobs import BackupJobs
from controlplane.jobs.mysql_services import MySQLServices
from controlplane.jobs.runner import JobContext
from controlplane.storage.stores import StoreUnavailable

log = logging.getLogger(__name__)
PLUGIN = "mariabackup"


def handle(repo_path: str | Path, stanza: str, label: str) -> str:
    """A mariabackup backup's handle: mariabackup:<repository>#<stanza>/<label>."""
    return f"{PLUGIN}:{repo_path}#{stanza}/{label}"


class MySQLBackups:
    def __init__(self, archiving: Archiving, mysql: MySQLServices, backup_jobs: BackupJobs) -> None:
        self._archiving = archiving
        self._mysql = mysql
        # A backup's success (the copy woken, the retention) is the same for every engine.
        self._backup_jobs = backup_jobs

    def take(self, context: JobContext) -> None:
        backup_id = int(context.payload["backup_id"])
        with transaction(context.sessions) as session:
            backup = _get(session, backup_id)
            if backup.state == "Succeeded":
                return
            service = services.get_service_by_id(session, service_id=context.service_id or -1)
            if service is None:
                raise LookupError(f"the service of backup {backup.name!r} no longer exists")
            repo = self._archiving.ensure_repository(session, service, backup.container)
            stanza = self._archiving.stanza_name(service)
            parent = backups.get_backup(
                session, project=backup.project, service=backup.service, name=backup.parent or ""
            )
            parent_label = parent.label if parent is not None else None
            backups.update_backup(
                session,
                backup=backup,
                state="Running",
                state_message=None,
                started_at=datetime.now(UTC),
                stanza=stanza,
                repo_path=repo.path,
                backup_plugin=PLUGIN,
            )
            session.expunge(service)
            repo_path = repo.path
        if backup.type == "incr" and parent_label is None:
            raise LookupError(f"backup {backup.name!r}: its parent {backup.parent!r} is gone")
        repository = self._archiving.repository(repo_path)
        server = self._mysql.server(service)
        manifest = mariabackup.backup(
            repository,
            stanza,
            server,
            type="full" if backup.type == "full" else "incr",
            parent=parent_label,
            cancel=context.cancel,
        )
        # The logs since the backup reach the archive now, not at the archiver's next pass.
        self._mysql.archive_binlogs(self._mysql.primaries(context, service), stanza, server, flush=False)
        self._backup_jobs.succeeded(
            context,
            backup,
            label=manifest.label,
            size_bytes=manifest.stream_size,
            repo_size_bytes=manifest.stored_size,
            started_at=manifest.started_at,
            finished_at=manifest.stopped_at,
            backup_handle=handle(repo_path, stanza, manifest.label),
        )

    def delete(self, context: JobContext) -> None:
        """Removes the backup with the incrementals built on it, everywhere it is stored, and forgets their
        rows; the stanza goes too once the service is gone and no listed backup is of it."""
        ids = [int(i) for i in context.payload.get("with_children", [])] + [int(context.payload["backup_id"])]
        with transaction(context.sessions) as session:
            targets = [found for i in ids if (found := backups.get_backup_by_id(session, backup_id=i)) is not None]
            for backup in targets:
                session.expunge(backup)
        root = targets[-1] if targets and targets[-1].id == ids[-1] else None
        if root is not None and root.owned and root.label and root.stanza:
            stanza, label = root.stanza, root.label
            with self._archiving.copy_lock(stanza), self._archiving.binlog_lock(stanza):
                for location in self._mysql.expiries.copies(root.project, root.container):
                    try:
                        repository = self._archiving.repository(location)
                        if repository.exists():
                            mariabackup.remove(repository, stanza, label)
                            binlog_archive.prune(repository, stanza)
                    except StoreUnavailable as exc:
                        if location == root.repo_path:
                            raise
                        log.warning("backup %s stays in %s for now: %s", label, location, exc)
        with transaction(context.sessions) as session:
            for backup in targets:
                found = backups.get_backup_by_id(session, backup_id=backup.id)
                if found is not None:
                    backups.delete_backup(session, backup=found)
            service_gone = (
                root is None
                or root.service_id is None
                or services.get_service_by_id(session, service_id=root.service_id) is None
            )
        if root is not None and root.owned and root.stanza and service_gone:
            self._mysql.purge(context, root.stanza, root.project, {root.container})

    def verify(self, context: JobContext) -> None:
        backup_id = int(context.payload["backup_id"])
        with transaction(context.sessions) as session:
            backup = _get(session, backup_id)
            session.expunge(backup)
        if not (backup.label and backup.repo_path and backup.stanza):
            problems = ["the backup has no mariabackup label: it never completed"]
        else:
            repository = self._archiving.repository(backup.repo_path)
            problems = mariabackup.verify(repository, backup.stanza, backup.label).problems
        with transaction(context.sessions) as session:
            backups.update_backup(
                session,
                backup=_get(session, backup_id),
                verify_state="failed" if problems else "passed",
                verify_message="; ".join(problems) or None,
                verified_at=datetime.now(UTC),
            )


def _get(session: Session, backup_id: int) -> Backup:
    found = backups.get_backup_by_id(session, backup_id=backup_id)
    if found is None:
        raise LookupError(f"backup {backup_id} no longer exists")
    return found
