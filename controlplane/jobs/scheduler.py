"""Scheduled full backups and restore tests from the strategies' cron schedules.

A scheduled backup is named after the time it was due (yyyyMMddHHmmss), so two control planes
sharing a catalog that both see it due create it once: the second insert is a duplicate name.
A scheduled restore test is due once per firing of `restore_test_schedule`: the newest backup
taken before the firing is tested, unless a test of it has started since (scheduled or by hand).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from croniter import croniter
from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import backups, jobs, services, strategies
from controlplane.catalog.db import transaction
from controlplane.catalog.models import BackupStrategy, Service
from controlplane.domain.validation import BACKUP_PLUGINS
from controlplane.jobs import kinds
from controlplane.jobs.restore_tests import RUNNING, queue_restore_test

log = logging.getLogger(__name__)
SCHEDULED_LABEL = "dbaas-scheduled"


class Scheduler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        wake: Callable[[], None],
        *,
        interval: float = 20.0,
        default_container: str = "default",
    ) -> None:
        self._sessions = sessions
        self._wake = wake
        self._interval = interval
        self._default_container = default_container
        self._stopping = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="backup-scheduler", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                if self.tick(datetime.now(UTC)):
                    self._wake()
            except Exception:
                log.exception("backup scheduler tick failed; trying again at the next one")

    def tick(self, now: datetime) -> int:
        """Queue every scheduled backup and restore test due at `now` and not yet queued; how many were queued."""
        queued = 0
        with transaction(self._sessions) as session:
            for strategy in strategies.list_strategies(session):
                if strategy.schedule is not None:
                    due = _last_firing(strategy.schedule, now)
                    for service in self._governed(session, strategy):
                        if service.state == "RUNNING" and service.created_at <= due:
                            queued += self._queue(session, service, due)
                if strategy.restore_test_schedule is not None:
                    due = _last_firing(strategy.restore_test_schedule, now)
                    for service in self._governed(session, strategy):
                        queued += self._queue_restore_test(session, service, due)
        return queued

    @staticmethod
    def _governed(session: Session, strategy: BackupStrategy) -> list[Service]:
        """The services a strategy decides for: its own service, or those of its project without one."""
        in_project = services.list_services(session, project=strategy.project)
        if strategy.service is not None:
            return [s for s in in_project if s.name == strategy.service]
        return [s for s in in_project if strategies.get_strategy(session, project=s.project, service=s.name) is None]

    def _queue(self, session: Session, service: Service, due: datetime) -> int:
        name = due.strftime("%Y%m%d%H%M%S")
        if backups.get_backup(session, project=service.project, service=service.name, name=name) is not None:
            return 0
        container = strategies.effective_container(
            session, project=service.project, service=service.name, requested=None, default=self._default_container
        )
        try:
            with session.begin_nested():
                backup = backups.create_backup(
                    session,
                    project=service.project,
                    service=service.name,
                    service_id=service.id,
                    name=name,
                    type="full",
                    parent=None,
                    container=container,
                    region=service.cloud,
                    description=f"scheduled full backup due at {due.isoformat()}",
                    labels={SCHEDULED_LABEL: "true"},
                    backup_plugin=BACKUP_PLUGINS[service.service_type],
                )
        except backups.DuplicateBackup:
            return 0  # another control plane queued it first
        jobs.enqueue_job(
            session,
            kind=kinds.TAKE_BACKUP,
            project=service.project,
            service_id=service.id,
            payload={"backup_id": backup.id},
        )
        log.info("scheduled full backup %s of %s/%s queued", name, service.project, service.name)
        return 1

    @staticmethod
    def _queue_restore_test(session: Session, service: Service, due: datetime) -> int:
        succeeded = backups.list_backups(session, project=service.project, service=service.name, states=("Succeeded",))
        taken_before = [backup for backup in succeeded if backup.created_at <= due]
        if not taken_before:
            return 0
        newest = taken_before[-1]
        if newest.restore_test_state == RUNNING or (
            newest.restore_tested_at is not None and newest.restore_tested_at >= due
        ):
            return 0
        queue_restore_test(session, newest)
        log.info("scheduled restore test of backup %s of %s/%s queued", newest.name, service.project, service.name)
        return 1


def _last_firing(schedule: str, now: datetime) -> datetime:
    """When the cron `schedule` last fired at or before `now`."""
    return croniter(schedule, now).get_prev(datetime).astimezone(UTC)
