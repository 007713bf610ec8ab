"""Archives the logs of every running service whose server cannot push them itself (MariaDB's binary logs), from
birth, as PostgreSQL's archive_timeout does WAL.

A thread of the control plane makes a pass every `binlog_archive_seconds`: for each RUNNING service whose engine
`archives_logs` (engines.py; the mysql engine) it has the engine close the current log when a transaction was
written since the last pass (an idle server gets no new files) and archive every closed log into each repository
of the service's region. The archive therefore lags the server by at most that interval; a fork at the latest
transaction closes and archives the current log itself. A store that does not take them makes the server keep
at most `wal_queue_max_mb` of them; the gap that leaves after the newest backup is shown on the service
(`archive_gap`, as gap_watch.py does for WAL) until a backup taken after it closes it. Each pass looks for it,
whether archiving worked or not.
Every control plane sharing a catalog may archive: archiving is idempotent (the index is the truth).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import repositories, services
from controlplane.catalog.db import transaction
from controlplane.catalog.models import Service
from controlplane.jobs.archiving import Archiving
from controlplane.jobs.engines import ArchiveError, Engine
from controlplane.jobs.gap_watch import record_gap
from controlplane.jobs.periodic import Periodic
from controlplane.settings import Settings
from controlplane.storage.archive_gaps import earliest

log = logging.getLogger(__name__)


class BinlogArchiver(Periodic):
    thread_name = "binlog-archiver"
    failure = "archiving binary logs failed; trying again later"

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        archiving: Archiving,
        engines: Mapping[str, Engine],
    ) -> None:
        super().__init__(settings.binlog_archive_seconds)
        self._sessions = sessions
        self._archiving = archiving
        self._engines = engines
        # Each service's log position read before the last pass archived: the engine closes the current log
        # when it moved.
        self._seen: dict[int, str] = {}

    def run_once(self) -> None:
        """Archive the logs of every running service whose engine archives them, once."""
        with transaction(self._sessions) as session:
            watched: list[tuple[Service, Engine, list[str]]] = []
            for service in services.list_services(session, states=["RUNNING"]):
                engine = self._engines.get(service.service_type)
                if engine is None or not engine.archives_logs or service.port is None:
                    continue
                locations = [
                    r.path
                    for r in repositories.list_repositories(session, service_id=service.id)
                    if r.region == service.cloud
                ]
                session.expunge(service)
                watched.append((service, engine, locations))
        self._seen = {key: value for key, value in self._seen.items() if key in {s.id for s, _, _ in watched}}
        for service, engine, locations in watched:
            if self._stopping.is_set():
                return
            if not locations or not engine.is_running(service):
                continue
            repositories_ = [self._archiving.repository(location) for location in locations]
            try:
                self._seen[service.id] = engine.archive_logs(service, repositories_, since=self._seen.get(service.id))
            except ArchiveError as exc:
                log.warning("service %s/%s: %s", service.project, service.name, exc)
            # The gaps the cap left (binlog_gaps.py), or that there is none; what a store that cannot be read
            # showed stays until it can.
            try:
                gaps = engine.archive_gaps(service, repositories_)
            except ArchiveError as exc:
                log.info("service %s/%s: %s", service.project, service.name, exc)
                continue
            record_gap(self._sessions, service.id, earliest(gaps))
