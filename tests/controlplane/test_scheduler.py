"""Scheduled full backups are queued once per due time, for the services their strategy governs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import backups, jobs, strategies
from controlplane.catalog.db import transaction
from controlplane.jobs.scheduler import SCHEDULED_LABEL, Scheduler
from tests.controlplane.factories import new_service

NOW = datetime(2026, 11, 21, 4, 30, tzinfo=UTC)


def add_service(session: Session, name: str, *, state: str = "RUNNING") -> None:
    service = new_service(session, name=name, state=state)
    session.flush()
    # Created two days before "now", so the 03:00 slot of today applies to it.
    service.created_at = NOW - timedelta(days=2)


def test_due_backups_are_queued_once(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        for name in ("nightly", "own-rules", "stopped"):
            add_service(session, name, state="POWEROFF" if name == "stopped" else "RUNNING")
        strategies.put_strategy(session, project="acme", service=None, container="box", schedule="0 3 * * *")
        strategies.put_strategy(session, project="acme", service="own-rules", container="own")  # no schedule
    scheduler = Scheduler(sessions, wake=lambda: None)
    assert scheduler.tick(NOW) == 1
    assert scheduler.tick(NOW + timedelta(minutes=5)) == 0, "the same due time is not queued twice"
    with transaction(sessions) as session:
        [queued] = backups.list_backups(session, project="acme")
        assert (queued.service, queued.name, queued.type, queued.container) == (
            "nightly",
            "20261121030000",
            "full",
            "box",
        )
        assert queued.labels == {SCHEDULED_LABEL: "true"} and queued.state == "Pending"
        [job] = jobs.list_jobs(session)
        assert job.kind == "take_backup" and job.payload == {"backup_id": queued.id}
    assert scheduler.tick(NOW + timedelta(days=1)) == 1, "the next day's slot is a new backup"
