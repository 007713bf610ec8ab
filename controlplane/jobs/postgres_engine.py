"""The PostgreSQL 15 + pgBackRest engine (`service_type = "pg"`): the `Engine` (engines.py) made of the jobs of
service_jobs.py, backup_jobs.py, fork_jobs.py and restore_tests.py. Its servers push their WAL to the archive
themselves (archive_command), so the control plane only watches that archive for gaps (gap_watch.py)."""

from __future__ import annotations

from collections.abc import Sequence

from controlplane.catalog.models import Service
from controlplane.jobs.engines import PG, ArchiveError
from controlplane.jobs.job_engine import JobEngine
from controlplane.jobs.runner import JobContext
from controlplane.jobs.service_jobs import ServiceJobs
from controlplane.storage.archive_gaps import ArchiveGap, find_gap
from controlplane.storage.stores import Repository, StoreUnavailable


class PostgresEngine(JobEngine[ServiceJobs]):
    service_type = PG
    archives_logs = False

    def is_running(self, service: Service) -> bool:
        return self._services.driver(service).is_running()

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
