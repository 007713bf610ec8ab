"""The fork job of MySQL services: restore a mariabackup chain into a new MariaDB server and replay binary logs.

The plan (controlplane/fork_plan.py, written by domain/forks.py) names the stanza and the repository to
restore from: the source's own, or its copy in a backup region. A named backup is restored as it is; a point
in time restores the latest backup ended before it and replays the archived binary logs up to it (to the
second: see engine/binlog_archive.py); the latest transaction first closes and archives the running source's
current binary log (and waits for the copy when restoring in a backup region), then replays everything.
`restored_from` is the named backup, or the last commit the replay applied (the restored backup's end when
it applied none), recorded before the restore is marked done. The fork then gets its own tenant.
Idempotent: a restore that did not reach the end is removed and redone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from controlplane.catalog import services
from controlplane.catalog.db import transaction
from controlplane.engine import binlog_archive, mariabackup
from controlplane.engine.ports import free_loopback_port
from controlplane.fork_plan import ForkPlan, RestoredFrom
from controlplane.jobs.archiving import Archiving
from controlplane.jobs.mysql_services import MySQLServices, latest_backup
from controlplane.jobs.runner import JobContext
from controlplane.jobs.service_jobs import HOST, ServiceJobs
from controlplane.storage.stores import Repository, StoreUnavailable

log = logging.getLogger(__name__)
RESTORED_MARKER = ".dbaas-restored"


class MySQLForks:
    def __init__(
        self,
        archiving: Archiving,
        service_jobs: ServiceJobs,
        mysql: MySQLServices,
        wake_replicator: Callable[[], None] = lambda: None,
    ) -> None:
        self._archiving = archiving
        self._jobs = service_jobs
        self._mysql = mysql
        self._wake_replicator = wake_replicator

    def fork(self, context: JobContext) -> None:
        jobs = self._jobs
        service = jobs.load(context)
        if service.port is None:
            service = jobs.save(context, port=free_loopback_port())
        if service.state == "RUNNING":
            return  # done before an interruption ended the job
        plan = ForkPlan.load(service.fork_from or {})
        instructions = plan.instructions
        server = self._mysql.server(service)
        home = Path(service.data_dir)
        marker = home.parent / f".{home.name}{RESTORED_MARKER}"
        if not marker.exists() or plan.result is None:
            server.remove()  # a restore cut short
            needed = self._archive_source(context, plan)
            repository = self._archiving.repository(instructions.repo_path)
            if instructions.copy_of:
                self._wake_replicator()
                _wait_for_copy(context, repository, plan, needed)
            jobs.save(context, state_message=f"restoring from {instructions.region}")
            label, until = _chosen(repository, plan)
            restored = mariabackup.restore(repository, instructions.stanza, label, server, cancel=context.cancel)
            self._mysql.configure(context, service, server)
            server.start(cancel=context.cancel)
            last_commit = None
            if plan.request.backup is None:
                last_commit = binlog_archive.replay(
                    repository, instructions.stanza, server, restored.binlog, until=until, cancel=context.cancel
                ).last_commit_at
            plan = plan.model_copy(update={"result": _restored_from(plan, restored, last_commit)})
            # Recorded before the marker: a fork resumed past it still reports what this replay reached.
            jobs.save(context, fork_from=plan.dump())
            marker.touch()
        else:  # restored before an interruption
            self._mysql.configure(context, service, server)
            server.start(cancel=context.cancel)
        # The restored accounts are the source's: the fork's tenant gets its own password.
        server.ensure_owner(username=service.username, password=service.password)
        jobs.save(context, state="RUNNING", state_message=None, host=HOST)
        marker.unlink(missing_ok=True)
        log.info("fork %s/%s restored from %s", service.project, service.name, plan.result)

    def _archive_source(self, context: JobContext, plan: ForkPlan) -> set[str]:
        """Close and archive the running source's current binary log (a fork at the latest transaction or at
        a point in time): the names of the logs the restore needs archived; none for a named backup."""
        source_id = plan.instructions.source_service_id
        if plan.request.backup is not None or source_id is None:
            return set()
        with transaction(context.sessions) as session:
            source = services.get_service_by_id(session, service_id=source_id)
            if source is None or source.state != "RUNNING" or source.port is None:
                return set()
            session.expunge(source)
        server = self._mysql.server(source)
        if not server.is_running():
            return set()
        stanza = plan.instructions.stanza
        primaries = self._mysql.primaries(context, source)
        self._mysql.archive_binlogs(primaries, stanza, server, flush=True)
        primary = next(
            (r for r in primaries if r.location == (plan.instructions.copy_of or plan.instructions.repo_path)), None
        )
        return {entry.name for entry in binlog_archive.archived(primary, stanza)} if primary is not None else set()


def _chosen(repository: Repository, plan: ForkPlan) -> tuple[str, datetime | None]:
    """The backup label to restore and the time to replay to (None: every archived event)."""
    stanza, target = plan.instructions.stanza, plan.request.recovery_target_time
    if plan.instructions.label is not None:
        return plan.instructions.label, None
    if target is not None:
        return binlog_archive.backup_before(repository, stanza, target).label, target
    latest = latest_backup(repository, stanza)
    if latest is None:
        raise LookupError(f"stanza {stanza} has no backup in {repository.location}")
    return latest.label, None


def _restored_from(plan: ForkPlan, restored: mariabackup.BackupManifest, last_commit: datetime | None) -> RestoredFrom:
    """What the fork recovered to: a named backup's end, or the last commit the replay applied (with none
    applied, the end of the backup it started from)."""
    instructions = plan.instructions
    if plan.request.backup is not None:
        return RestoredFrom(
            backup=instructions.backup_name, region=instructions.region, recovery_time=instructions.backup_finished_at
        )
    return RestoredFrom(backup=None, region=instructions.region, recovery_time=last_commit or restored.stopped_at)


def _wait_for_copy(context: JobContext, copy: Repository, plan: ForkPlan, needed: set[str]) -> None:
    """A fork from a backup region's copy restores once the copy holds the backup to restore and the binary
    logs the source had archived when the fork began."""
    stanza = plan.instructions.stanza

    def caught_up() -> bool:
        try:
            labels = {item.label for item in mariabackup.list_backups(copy, stanza)}
            if not labels or (plan.instructions.label is not None and plan.instructions.label not in labels):
                return False
            return needed <= {entry.name for entry in binlog_archive.archived(copy, stanza)}
        except StoreUnavailable as exc:
            log.info("waiting for the copy of %s in %s: %s", stanza, plan.instructions.region, exc)
            return False

    context.wait_until(
        caught_up,
        f"the copy in {plan.instructions.region} ({copy.location}) did not catch up; "
        "see the source's backup_to_another_region report",
        timeout=600,
    )
