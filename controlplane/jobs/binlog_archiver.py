"""Archives the binary logs of every running MySQL service from birth, as PostgreSQL's archive_timeout does WAL.

A thread of the control plane makes a pass every `binlog_archive_seconds`: for each RUNNING mysql service
it closes the current binary log when a transaction was written since the last pass (its GTID position
moved; an idle server gets no new files), archives every closed log into each repository of the service's
region, then lets the server purge them (`MySQLServices.archive_binlogs`). The archive therefore
lags the server by at most that interval; a fork at the latest transaction closes and archives the current log itself.
A store that does not take them makes the server keep at most `wal_queue_max_mb` of them; the gap that leaves
after the newest backup is shown on the service (`archive_gap`, as gap_watch.py does for WAL) until a backup
taken after it closes it. Each pass looks for it, whether archiving worked or not.
Every control plane sharing a catalog may archive: archiving is idempotent (the index is the truth).
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import repositories, services
from controlplane.catalog.db import transaction
from controlplane.catalog.models import Service
from controlplane.engine import binlog_gaps
from controlplane.engine.binlog_archive import BinlogArchiveError
from controlplane.engine.mariadb import MariaDB, MariaDBError
from controlplane.jobs.archiving import Archiving
from controlplane.jobs.engines import MYSQL
from controlplane.jobs.gap_watch import record_gap
from controlplane.jobs.mysql_services import MySQLServices
from controlplane.jobs.periodic import Periodic
from controlplane.settings import Settings
from controlplane.storage.archive_gaps import earliest
from controlplane.storage.stores import Repository, StoreUnavailable

log = logging.getLogger(__name__)


class BinlogArchiver(Periodic):
    thread_name = "binlog-archiver"
    failure = "archiving binary logs failed; trying again later"

    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], archiving: Archiving, mysql: MySQLServices
    ) -> None:
        super().__init__(settings.binlog_archive_seconds)
        self._sessions = sessions
        self._archiving = archiving
        self._mysql = mysql
        # Each service's GTID position read before the last pass closed its log: unchanged means nothing was
        # written since (a write after the read and before the close is archived now, and seen as a change).
        self._seen: dict[int, str] = {}

    def run_once(self) -> None:
        """Archive every running mysql service's binary logs once."""
        with transaction(self._sessions) as session:
            watched: list[tuple[Service, list[str]]] = []
            for service in services.list_services(session, states=["RUNNING"]):
                if service.service_type != MYSQL or service.port is None:
                    continue
                locations = [
                    r.path
                    for r in repositories.list_repositories(session, service_id=service.id)
                    if r.region == service.cloud
                ]
                session.expunge(service)
                watched.append((service, locations))
        self._seen = {key: value for key, value in self._seen.items() if key in {s.id for s, _ in watched}}
        for service, locations in watched:
            if self._stopping.is_set():
                return
            server = self._mysql.server(service)
            if not locations or not server.is_running():
                continue
            repositories_ = [self._archiving.repository(location) for location in locations]
            try:
                self._archive(service, server, repositories_)
            except (BinlogArchiveError, MariaDBError, StoreUnavailable) as exc:
                log.warning("binary logs of %s/%s not archived now: %s", service.project, service.name, exc)
            self._watch_gap(service, server, repositories_)

    def _archive(self, service: Service, server: MariaDB, repositories_: list[Repository]) -> None:
        position = server.current_gtid()
        written = self._seen.get(service.id, position) != position
        self._mysql.archive_binlogs(repositories_, self._archiving.stanza_name(service), server, flush=written)
        self._seen[service.id] = position

    def _watch_gap(self, service: Service, server: MariaDB, repositories_: list[Repository]) -> None:
        """Show on the service the first gap after its newest backup in any of its repositories' archives (the
        binary log cap's doing, binlog_gaps.py), or that there is none; what a store that cannot be read
        showed stays until it can."""
        stanza = self._archiving.stanza_name(service)
        try:
            on_server = [item.name for item in server.binlog_files()]  # before the archives: see find_gap
            gaps = [gap for repository in repositories_ if (gap := binlog_gaps.find_gap(repository, stanza, on_server))]
        except (BinlogArchiveError, MariaDBError, StoreUnavailable) as exc:
            log.info("binary log archive of %s not checked for gaps: %s", stanza, exc)
            return
        record_gap(self._sessions, service.id, earliest(gaps))
