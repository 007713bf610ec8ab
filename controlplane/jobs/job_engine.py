"""What both engines (postgres_engine.py, mariadb_engine.py) share: an `engines.Engine` made of job classes, one
for a service's life, one for its backups, one for its forks, plus the restore tests; each job goes to its class.
An engine adds what differs: whether its server runs, its restore check, its archive and its copier's key."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from controlplane.jobs.archiving import Archiving
from controlplane.jobs.engines import StanzaCopier
from controlplane.jobs.restore_tests import RestoreTests
from controlplane.jobs.runner import JobContext
from controlplane.jobs.stanza_copiers import COPIERS


class ServiceLife(Protocol):
    def create(self, context: JobContext) -> None: ...

    def apply_plan(self, context: JobContext) -> None: ...

    def migrate(self, context: JobContext) -> None: ...

    def start(self, context: JobContext) -> None: ...

    def delete(self, context: JobContext) -> None: ...


class BackupLife(Protocol):
    def take(self, context: JobContext) -> None: ...

    def delete(self, context: JobContext) -> None: ...

    def verify(self, context: JobContext) -> None: ...


class Forks(Protocol):
    def fork(self, context: JobContext) -> None: ...


ServicesT = TypeVar("ServicesT", bound=ServiceLife)


class JobEngine(Generic[ServicesT]):
    """The jobs part of an engine; `service_type` names the engine (and its copier in `COPIERS`)."""

    service_type: str

    def __init__(
        self,
        archiving: Archiving,
        services: ServicesT,
        backups: BackupLife,
        forks: Forks,
        restore_tests: RestoreTests,
    ) -> None:
        self._archiving = archiving
        self._services = services
        self._backups = backups
        self._forks = forks
        self._restore_tests = restore_tests

    def create_service(self, context: JobContext) -> None:
        self._services.create(context)

    def apply_plan(self, context: JobContext) -> None:
        self._services.apply_plan(context)

    def migrate_service(self, context: JobContext) -> None:
        self._services.migrate(context)

    def start_service(self, context: JobContext) -> None:
        self._services.start(context)

    def delete_service(self, context: JobContext) -> None:
        self._services.delete(context)

    def fork_service(self, context: JobContext) -> None:
        self._forks.fork(context)

    def take_backup(self, context: JobContext) -> None:
        self._backups.take(context)

    def delete_backup(self, context: JobContext) -> None:
        self._backups.delete(context)

    def verify_backup(self, context: JobContext) -> None:
        self._backups.verify(context)

    @property
    def copier(self) -> StanzaCopier:
        return COPIERS[self.service_type]
