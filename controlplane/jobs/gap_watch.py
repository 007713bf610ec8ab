"""Watches every running service's WAL archive for a gap after its newest backup, and shows it on the service.

A store that stayed down longer than the WAL queue allows (`wal_queue_max_mb`) leaves a gap in the archive
(controlplane/storage/archive_gaps.py). A thread of the control plane looks every `lag_sample_seconds` at the
archive in each repository of a service's current region and records the first gap it finds on the service
(`archive_gap`, and `archive_gap_until`, the last moment that can still be restored); the next backup, taken
after the gap, clears it. Forks refuse what the gap makes unreachable (controlplane/domain/forks.py).
Every control plane sharing a catalog may watch: what they record is the same. The services whose engine
archives their logs itself (`Engine.archives_logs`: mysql's binary logs) are watched by that archiver
(binlog_archiver.py) after each pass, which records their gaps with `record_gap` too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import repositories, services
from controlplane.catalog.db import transaction
from controlplane.jobs.archiving import Archiving
from controlplane.jobs.engines import ArchiveError, Engine
from controlplane.jobs.periodic import Periodic
from controlplane.settings import Settings
from controlplane.storage.archive_gaps import ArchiveGap, earliest

log = logging.getLogger(__name__)


class GapWatch(Periodic):
    thread_name = "archive-gap-watch"
    failure = "looking for gaps in the WAL archives failed; trying again later"

    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], archiving: Archiving, engines: Mapping[str, Engine]
    ) -> None:
        super().__init__(settings.lag_sample_seconds)
        self._sessions = sessions
        self._archiving = archiving
        self._engines = engines

    def run_once(self) -> None:
        """Look at every running service's archive once and record what changed."""
        with transaction(self._sessions) as session:
            watched = [
                (service, engine, [repo.path for repo in repos])
                for service in services.list_services(session, states=["RUNNING"])
                if (engine := self._engines.get(service.service_type)) is not None
                and not engine.archives_logs  # watched by its archiver (binlog_archiver.py)
                and (repos := [r for r in repositories.list_repositories(session, service_id=service.id)
                               if r.region == service.cloud])
            ]  # fmt: skip
            for service, _, _ in watched:
                session.expunge(service)
        for service, engine, locations in watched:
            if self._stopping.is_set():
                return
            try:
                gaps = engine.archive_gaps(service, [self._archiving.repository(location) for location in locations])
            except ArchiveError as exc:  # the store is down: what is recorded stays until it can be read
                log.info("service %s/%s: %s", service.project, service.name, exc)
                continue
            record_gap(self._sessions, service.id, earliest(gaps))


def record_gap(sessions: sessionmaker[Session], service_id: int, gap: ArchiveGap | None) -> None:
    """Show `gap` on the service (`archive_gap`, `archive_gap_until`), or that there is none; log a change."""
    message = gap.describe() if gap is not None else None
    until = datetime.fromtimestamp(gap.recoverable_until, UTC) if gap is not None else None
    with transaction(sessions) as session:
        service = services.get_service_by_id(session, service_id=service_id)
        if service is None or service.archive_gap == message:
            return
        if message is None:
            log.info("service %s/%s: the gap in its archive is closed", service.project, service.name)
        else:
            log.warning("service %s/%s: %s", service.project, service.name, message)
        services.update_service(session, service=service, archive_gap=message, archive_gap_until=until)
