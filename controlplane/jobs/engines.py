"""The engine interface: what the control plane asks of the database engine that runs a service type.

A service's `service_type` says which engine runs it: "pg" (PostgreSQL 15 + pgBackRest, postgres_engine.py)
or "mysql" (MariaDB 10.11 + mariabackup, mariadb_engine.py). An `Engine` runs the jobs of a service's life
(create, re-plan, migrate, start, delete), of its backups (take, delete, verify, fork, restore test), says
whether a service's server runs, archives what its server does not push itself and finds the gaps in that
archive, and names the `StanzaCopier` that copies its stanzas to backup regions. The job runner's handlers
(`dispatch`) hand each job to its engine's method for the job's kind; a backup job follows its backup's
plugin (`backup_plugin`), which outlives the service. The archiver, the gap watch, the replicator (through
the copier) and recovery ask the engine as well; what still names a service type outside the engines is the
API's validation, recovery's upgrade of PostgreSQL clusters older than the control plane's marks, and
`dbaas-cp stop`, which finds the servers of both kinds on the host without a catalog.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from controlplane.catalog import backups, services
from controlplane.catalog.db import transaction
from controlplane.catalog.models import Service
from controlplane.domain.validation import PLUGIN_ENGINES
from controlplane.jobs import kinds
from controlplane.jobs.runner import Handler, JobContext
from controlplane.storage.archive_gaps import ArchiveGap
from controlplane.storage.bandwidth import Bandwidth
from controlplane.storage.stores import Repository, StoredObject

PG, MYSQL = "pg", "mysql"


class ArchiveError(Exception):
    """Archiving a service's logs, or reading its archive, failed for now; the message says where and why."""


class CopyPlan(Protocol):
    """What one copy pass of a stanza to another region carries, as the replicator reads it."""

    @property
    def labels(self) -> tuple[str, ...]: ...  # the backups the source holds

    @property
    def pending(self) -> tuple[StoredObject, ...]: ...

    @property
    def up_to_date(self) -> bool: ...

    def oldest_pending(self) -> float | None: ...


class StanzaCopier(Protocol):
    """Copies one engine's stanza between repositories, restorable at every moment (the replicator's hook)."""

    def plan(self, source: Repository, target: Repository, stanza: str, *, known: Collection[str] = ()) -> CopyPlan:
        """What `target` lacks (StoreUnavailable: a store cannot be listed)."""
        ...

    def run(
        self,
        plan: CopyPlan,
        source: Repository,
        target: Repository,
        stanza: str,
        *,
        workers: int = 2,
        cancel: threading.Event | None = None,
        bandwidth: Bandwidth | None = None,
    ) -> None:
        """Carry out a plan this copier made, within `bandwidth` (StoreUnavailable, SourceChanged, CopyCancelled)."""
        ...

    def copied_labels(self, repository: Repository, stanza: str) -> set[str]:
        """The backups whose manifest `repository` holds (StoreUnavailable)."""
        ...


class Engine(Protocol):
    """One service type's engine. Every job method is idempotent: a job interrupted at any point runs again."""

    @property
    def service_type(self) -> str: ...

    # A service's life: the jobs that leave the service FAILED when they fail (kinds.SERVICE_KINDS).
    def create_service(self, context: JobContext) -> None: ...

    def apply_plan(self, context: JobContext) -> None: ...

    def migrate_service(self, context: JobContext) -> None: ...

    def start_service(self, context: JobContext) -> None: ...

    def delete_service(self, context: JobContext) -> None: ...

    def fork_service(self, context: JobContext) -> None: ...

    def is_running(self, service: Service) -> bool:
        """Whether the service's server runs (after a restart, recovery starts those that do not)."""
        ...

    # Backups.
    def take_backup(self, context: JobContext) -> None: ...

    def delete_backup(self, context: JobContext) -> None: ...

    def verify_backup(self, context: JobContext) -> None: ...

    def restore_test(self, context: JobContext) -> None: ...

    # The archive, from the service's birth.
    @property
    def archives_logs(self) -> bool:
        """True: the control plane copies the server's logs into the archive (`archive_logs`, binlog_archiver.py),
        False: the server pushes them itself (PostgreSQL's archive_command) and gap_watch.py watches its gaps."""
        ...

    def archive_logs(self, service: Service, repositories: Sequence[Repository], *, since: str | None) -> str:
        """Archive the running service's closed logs into `repositories` (its region's), closing the current one
        first when the server wrote since position `since` (None: not known); the position read before
        (ArchiveError)."""
        ...

    def archive_gaps(self, service: Service, repositories: Sequence[Repository]) -> list[ArchiveGap]:
        """The first gap after the newest backup in each of the service's archives (ArchiveError)."""
        ...

    # Copies to backup regions.
    @property
    def copier(self) -> StanzaCopier: ...


# What each kind of job asks of an engine.
OPERATIONS: Mapping[str, Callable[[Engine, JobContext], None]] = {
    kinds.CREATE_SERVICE: lambda engine, context: engine.create_service(context),
    kinds.APPLY_PLAN: lambda engine, context: engine.apply_plan(context),
    kinds.MIGRATE_SERVICE: lambda engine, context: engine.migrate_service(context),
    kinds.START_SERVICE: lambda engine, context: engine.start_service(context),
    kinds.DELETE_SERVICE: lambda engine, context: engine.delete_service(context),
    kinds.FORK_SERVICE: lambda engine, context: engine.fork_service(context),
    kinds.TAKE_BACKUP: lambda engine, context: engine.take_backup(context),
    kinds.DELETE_BACKUP: lambda engine, context: engine.delete_backup(context),
    kinds.VERIFY_BACKUP: lambda engine, context: engine.verify_backup(context),
    kinds.RESTORE_TEST: lambda engine, context: engine.restore_test(context),
}


def engine_of(context: JobContext) -> str:
    """The engine the job's backup or service belongs to ("pg" when neither is known any more)."""
    with transaction(context.sessions) as session:
        if "backup_id" in context.payload:
            backup = backups.get_backup_by_id(session, backup_id=int(context.payload["backup_id"]))
            if backup is not None:
                return PLUGIN_ENGINES.get(backup.backup_plugin, PG)
        if context.service_id is not None:
            service = services.get_service_by_id(session, service_id=context.service_id)
            if service is not None:
                return service.service_type
    return PG


def dispatch(engines: Mapping[str, Engine]) -> dict[str, Handler]:
    """One handler per job kind that hands the job to its engine's method for that kind; a service type
    without an engine fails the job with a message naming both."""

    def handler_of(kind: str, operation: Callable[[Engine, JobContext], None]) -> Handler:
        def run(context: JobContext) -> None:
            name = engine_of(context)
            engine = engines.get(name)
            if engine is None:
                raise NotImplementedError(f"{kind} is not available for service type {name!r}")
            operation(engine, context)

        return run

    return {kind: handler_of(kind, operation) for kind, operation in OPERATIONS.items()}
