"""Backup jobs of MySQL services: mariabackup full and incremental backups, their deletion and verification.

The backup's row says what to take (type, and the parent's name for an incremental: any earlier backup of
its chain); the repository is the container's in the service's region. The binary logs are archived
right after a backup, so its recoverable window starts at once. Deleting a backup removes it with every
incremental built on it (engine/mariabackup.py's `remove`), in its repository and in its copies in other
regions, then the archived binary logs no backup needs any more.
"""

from __future__ import annotations

import logging

from controlplane.catalog import backups
from controlplane.catalog.db import transaction
from controlplane.engine import binlog_archive, mariabackup
from controlplane.jobs.archiving import Archiving
from controlplane.jobs.backup_jobs import (
    BackupJobs,
    backup_to_take,
    deletion_targets,
    forget_rows,
    handle,
    mark_running,
    verify_backup,
)
from controlplane.jobs.mysql_services import MySQLServices
from controlplane.jobs.runner import JobContext
from controlplane.storage.stores import StoreUnavailable

log = logging.getLogger(__name__)
PLUGIN = "mariabackup"


class MySQLBackups:
    def __init__(self, archiving: Archiving, mysql: MySQLServices, backup_jobs: BackupJobs) -> None:
        self._archiving = archiving
        self._mysql = mysql
        # A backup's success (the copy woken, the retention) is the same for every engine.
        self._backup_jobs = backup_jobs

    def take(self, context: JobContext) -> None:
        with transaction(context.sessions) as session:
            taking = backup_to_take(session, context)
            if taking is None:
                return
            backup, service = taking
            repo = self._archiving.ensure_repository(session, service, backup.container)
            stanza = self._archiving.stanza_name(service)
            parent = backups.get_backup(
                session, project=backup.project, service=backup.service, name=backup.parent or ""
            )
            parent_label = parent.label if parent is not None else None
            mark_running(session, backup, stanza=stanza, repo_path=repo.path, backup_plugin=PLUGIN)
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
            backup_handle=handle(repo_path, stanza, manifest.label, PLUGIN),
        )

    def delete(self, context: JobContext) -> None:
        """Removes the backup with the incrementals built on it, everywhere it is stored, and forgets their
        rows; the stanza goes too once the service is gone and no listed backup is of it."""
        targets, root = deletion_targets(context)
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
            service_gone = forget_rows(session, targets, root)
        if root is not None and root.owned and root.stanza and service_gone:
            self._mysql.purge(context, root.stanza, root.project, {root.container})

    def verify(self, context: JobContext) -> None:
        verify_backup(
            context,
            "mariabackup",
            lambda stanza, repo_path, label: (
                mariabackup.verify(self._archiving.repository(repo_path), stanza, label).problems
            ),
        )
