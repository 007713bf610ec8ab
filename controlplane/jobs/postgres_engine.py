"""The PostgreSQL 15 + pgBackRest engine (`service_type = "pg"`): the `Engine` (engines.py) made of the jobs of
service_jobs.py, backup_jobs.py, fork_jobs.py and restore_tests.py. Its servers push their WAL to the archive
themselves (archive_command), so the control plane only watches that archive for gaps (gap_watch.py)."""

from __future__ import annotations

from collections.abc import Sequence

from controlplane.catalog.models import Service
from controlplane.jobs.archiving import Archiving
from controlplane.jobs.backup_jobs import BackupJobs
from controlplane.jobs.engines import PG, ArchiveError, StanzaCopier
from controlplane.jobs.fork_jobs import ForkJobs
from controlplane.jobs.restore_tests import RestoreTests
from controlplane.jobs.runner import JobContext
from controlplane.jobs.service_jobs import ServiceJobs
from controlplane.jobs.stanza_copiers import COPIERS
from controlplane.storage.archive_gaps import ArchiveGap, find_gap
from controlplane.storage.stores import Repository, StoreUnavailable


class PostgresEngine:
    service_type = PG
    archives_logs = False

    def __init__(
        self,
        archiving: Archiving,
        service_jobs: ServiceJobs,
        backup_jobs: BackupJobs,
        fork_jobs: ForkJobs,
        restore_tests: RestoreTests,
    ) -> None:
        self._archiving = archiving
        self._services = service_jobs
        self._backups = backup_jobs
        self._forks = fork_jobs
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

    def is_running(self, service: Service) -> bool:
        return self._services.driver(service).is_running()

    def take_backup(self, context: JobContext) -> None:
        self._backups.take(context)

    def delete_backup(self, context: JobContext) -> None:
        self._backups.delete(context)

    def verify_backup(self, context: JobContext) -> None:
        self._backups.verify(context)

    def restore_test(self, context: JobContext) -> None:
        self._restore_tests.test(context, self._restore_tests.check_postgres)

    def archive_logs(self, service: Service, repositories: Sequence[Repository], *, since: str | None) -> str:
        """Nothing to do: the server's archive_command pushes each WAL segment (`archives_logs` is False)."""
        return since or ""

    def archive_gaps(self, service: Service, repositories: Sequence[Repository]) -> list[ArchiveGap]:
        stanza = self._archiving.stanza_name(service)
        try:
            return [gap for repository in repositories if (gap := find_gap(repository, stanza))]
        except StoreUnavailable as exc:
            raise ArchiveError(f"the WAL archive of {stanza} cannot be read: {exc}") from exc

    @property
    def copier(self) -> StanzaCopier:
        return COPIERS[PG]
