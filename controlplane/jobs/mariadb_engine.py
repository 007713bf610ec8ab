"""The MariaDB 10.11 + mariabackup engine (`service_type = "mysql"`): the `Engine` (engines.py) made of the jobs
of mysql_services.py, mysql_backups.py, mysql_forks.py and restore_tests.py. MariaDB has no archive_command:
the control plane closes and copies its binary logs itself (`archive_logs`, run by binlog_archiver.py) and
caps those a store that stays down leaves on the server (engine/binlog_gaps.py)."""

from __future__ import annotations

from collections.abc import Sequence

from controlplane.catalog.models import Service
from controlplane.engine import binlog_gaps
from controlplane.engine.binlog_archive import BinlogArchiveError
from controlplane.engine.mariadb import MariaDBError
from controlplane.jobs.engines import MYSQL, ArchiveError
from controlplane.jobs.job_engine import JobEngine
from controlplane.jobs.mysql_services import MySQLServices
from controlplane.jobs.runner import JobContext
from controlplane.storage.archive_gaps import ArchiveGap
from controlplane.storage.stores import Repository, StoreUnavailable

_ARCHIVE_ERRORS = (BinlogArchiveError, MariaDBError, StoreUnavailable)


class MariaDBEngine(JobEngine[MySQLServices]):
    service_type = MYSQL
    archives_logs = True

    def is_running(self, service: Service) -> bool:
        return self._services.server(service).is_running()

    def restore_test(self, context: JobContext) -> None:
        self._restore_tests.test(context, self._restore_tests.check_mariadb)

    def archive_logs(self, service: Service, repositories: Sequence[Repository], *, since: str | None) -> str:
        """The current binary log is closed first when the server's GTID position moved since `since`: an idle
        server gets no new files. A write after the position is read and before the close is archived now, and
        seen as a change at the next call."""
        stanza = self._archiving.stanza_name(service)
        server = self._services.server(service)
        try:
            position = server.current_gtid()
            written = since is not None and since != position
            self._services.archive_binlogs(list(repositories), stanza, server, flush=written)
        except _ARCHIVE_ERRORS as exc:
            raise ArchiveError(f"the binary logs of {stanza} are not archived now: {exc}") from exc
        return position

    def archive_gaps(self, service: Service, repositories: Sequence[Repository]) -> list[ArchiveGap]:
        """The gaps the binary log cap left (binlog_gaps.py) in each archive."""
        stanza = self._archiving.stanza_name(service)
        server = self._services.server(service)
        try:
            on_server = [item.name for item in server.binlog_files()]  # before the archives: see find_gap
            return [gap for repository in repositories if (gap := binlog_gaps.find_gap(repository, stanza, on_server))]
        except _ARCHIVE_ERRORS as exc:
            raise ArchiveError(f"the binary log archive of {stanza} was not checked for gaps: {exc}") from exc
