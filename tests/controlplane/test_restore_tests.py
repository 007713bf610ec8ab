"""Restore tests of backups: real PostgreSQL, real pgBackRest, real HTTP, a real scheduler.

One source service and one backup of it ("base") are shared by the module; each test says what it adds.
Every test ends with no scratch server or directory left behind.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from croniter import croniter
from sqlalchemy.orm import Session, sessionmaker

from controlplane.bootstrap import open_catalog
from controlplane.catalog import backups, jobs, strategies
from controlplane.catalog.db import transaction
from controlplane.jobs.restore_tests import NotTestable, queue_restore_test
from controlplane.jobs.scheduler import Scheduler
from controlplane.settings import load_settings
from tests.controlplane.cp_process import ControlPlane, wait_for_state
from tests.controlplane.factories import new_service
from tests.controlplane.test_backups import backup, sql, wait_for_backup

PROJECT = "/v1/projects/acme"
SOURCE = f"{PROJECT}/services/source"
BACKUPS = f"{SOURCE}/backups"


@pytest.fixture(scope="module")
def base(acme: httpx.Client) -> dict[str, Any]:
    """The source service (a table with its primary-key index, and a second database) and its full backup "base"."""
    body = {"name": "source", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
    assert acme.post(f"{PROJECT}/services", json=body).status_code == 201
    service = wait_for_state(acme, SOURCE, {"RUNNING"})
    sql(service, "CREATE TABLE orders (id int PRIMARY KEY, note text)")
    sql(service, "INSERT INTO orders SELECT n, md5(n::text) FROM generate_series(1, 10000) AS n")
    sql(service, "CREATE DATABASE reports")
    return backup(acme, name="base")


def scratch_root(control_plane: ControlPlane) -> Path:
    return control_plane.data_dir / "restore-tests"


def scratch_left(control_plane: ControlPlane) -> list[str]:
    """Scratch directories, and processes working on one, that outlived their restore test."""
    root = scratch_root(control_plane)
    left = [str(path) for path in root.iterdir()] if root.exists() else []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(root).encode() in (entry / "cmdline").read_bytes():
                left.append(f"process {entry.name}")
        except OSError:
            continue
    return left


def scratch_postmaster(control_plane: ControlPlane) -> int | None:
    """The process id of a running scratch server, from its postmaster.pid."""
    for pid_file in scratch_root(control_plane).glob("*/postmaster.pid"):
        try:
            return int(pid_file.read_text().split("\n")[0])
        except (OSError, ValueError):
            continue  # removed, or being written, meanwhile
    return None


def restore_test(client: httpx.Client, path: str) -> dict[str, Any]:
    """Ask for a restore test; the answer is the backup with the test running."""
    response = client.post(f"{path}/restore_test")
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    assert accepted["last_restore_test"]["state"] == "running"
    return accepted


def wait_for_result(client: httpx.Client, path: str, timeout: float = 180) -> dict[str, Any]:
    """The backup once its restore test has a result."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = client.get(path).json()
        if found["last_restore_test"] is not None and found["last_restore_test"]["state"] != "running":
            return found
        assert time.monotonic() < deadline, f"restore test of {path} still running"
        time.sleep(0.2)


def test_restore_tests_of_a_backup_and_of_an_imported_one_pass(
    control_plane: ControlPlane, acme: httpx.Client, base: dict[str, Any]
) -> None:
    assert base["last_restore_test"] is None
    imported = acme.put(
        f"{PROJECT}/services/elsewhere/backups/adopted",
        json={"import_source": {"backup_handle": base["backup_handle"]}},
    )
    assert imported.status_code == 202, imported.text
    accepted = restore_test(acme, f"{BACKUPS}/base")
    assert accepted["name"] == "base" and accepted["state"] == "Succeeded"
    again = acme.post(f"{BACKUPS}/base/restore_test")
    assert again.status_code == 409 and "running already" in again.json()["error"]["message"]
    restore_test(acme, f"{PROJECT}/services/elsewhere/backups/adopted")
    for path in (f"{BACKUPS}/base", f"{PROJECT}/services/elsewhere/backups/adopted"):
        tested = wait_for_result(acme, path)
        result = tested["last_restore_test"]
        assert result["state"] == "passed", result["message"]
        assert result["tested_at"] and result["duration_seconds"] > 0 and tested["ready_to_use"]
        assert "3 databases accept connections (postgres, reports, template1)" in result["message"]
        assert "pg_amcheck found no corruption" in result["message"]
    assert acme.post(f"{PROJECT}/services/elsewhere/backups/ghost/restore_test").status_code == 404
    assert scratch_left(control_plane) == []


def test_kill_9_during_a_restore_test_resumes_it_and_cleans_up(
    control_plane: ControlPlane, acme: httpx.Client, base: dict[str, Any]
) -> None:
    restore_test(acme, f"{BACKUPS}/base")
    # Killed while the scratch server runs (it lives a few hundred milliseconds: look often), which
    # outlives the control plane as every server does.
    deadline = time.monotonic() + 120
    while (postmaster := scratch_postmaster(control_plane)) is None:
        assert time.monotonic() < deadline, "the scratch server never started"
        time.sleep(0.002)
    control_plane.kill()
    os.kill(postmaster, 0)  # raises if it is gone
    control_plane.start()
    tested = wait_for_result(acme, f"{BACKUPS}/base")
    assert tested["last_restore_test"]["state"] == "passed", tested["last_restore_test"]["message"]
    assert scratch_left(control_plane) == []


def test_restore_test_schedule_tests_the_newest_backup(
    control_plane: ControlPlane, acme: httpx.Client, base: dict[str, Any]
) -> None:
    before = acme.get(f"{BACKUPS}/base").json()["last_restore_test"]["tested_at"]
    bad = acme.put(f"{SOURCE}/backup_strategy", json={"container": "default", "restore_test_schedule": "sometimes"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "restore_test_schedule"
    # Once a year: its last firing came before "base" was taken, so the control plane's own scheduler has
    # nothing to queue. The scheduler, reading the same catalog, ticks a minute after the next firing instead
    # of waiting for it (no schedule may fire often enough to wait for); the control plane runs the test.
    strategy = {"container": "default", "restore_test_schedule": "0 0 1 1 *"}
    put = acme.put(f"{SOURCE}/backup_strategy", json=strategy)
    assert put.status_code == 200 and put.json()["restore_test_schedule"] == "0 0 1 1 *"
    settings = load_settings(control_plane.data_dir, None, control_plane.config)
    next_firing = croniter("0 0 1 1 *", datetime.now(UTC)).get_next(datetime)
    assert Scheduler(open_catalog(settings), wake=lambda: None).tick(next_firing + timedelta(minutes=1)) == 1
    assert acme.delete(f"{SOURCE}/backup_strategy").status_code == 204
    result = wait_for_result(acme, f"{BACKUPS}/base")["last_restore_test"]
    assert result["state"] == "passed" and result["tested_at"] > before
    assert scratch_left(control_plane) == []


def test_a_backup_missing_a_data_file_fails_its_restore_test(
    control_plane: ControlPlane, acme: httpx.Client, base: dict[str, Any]
) -> None:
    assert acme.post(BACKUPS, json={"name": "damaged"}).status_code == 202
    # Asked at once, while the backup is still being taken (pgBackRest alone needs seconds).
    early = acme.post(f"{BACKUPS}/damaged/restore_test")
    assert early.status_code == 409, early.text
    error = early.json()["error"]
    assert (error["code"], error["field"]) == ("conflict", "name") and "only a Succeeded backup" in error["message"]
    damaged = wait_for_backup(acme, f"{BACKUPS}/damaged")
    repo = damaged["backup_handle"].split(":", 1)[1].split("#")[0]
    stanza, label = damaged["backup_handle"].rsplit("#", 1)[1].split("/")
    victim = next(
        path for path in sorted(Path(repo).glob(f"backup/{stanza}/{label}/pg_data/base/*/*")) if path.is_file()
    )
    victim.unlink()
    restore_test(acme, f"{BACKUPS}/damaged")
    tested = wait_for_result(acme, f"{BACKUPS}/damaged")
    result = tested["last_restore_test"]
    assert result["state"] == "failed" and not tested["ready_to_use"]
    assert victim.name in result["message"] and "missing" in result["message"]
    assert tested["state"] == "Succeeded" and tested["verify_state"] is None, "the restore test alone says so"
    assert scratch_left(control_plane) == []


# -- the rules, on the catalog alone ---------------------------------------------------------------

NOW = datetime(2026, 11, 21, 6, 30, tzinfo=UTC)  # restore_test_schedule "0 5 * * *" last fired at 05:00


def add_backup(session: Session, service: str, name: str, created_at: datetime, state: str = "Succeeded") -> None:
    made = backups.create_backup(
        session,
        project="acme",
        service=service,
        service_id=None,
        name=name,
        type="full",
        parent=None,
        container="default",
        region="local-east",
        state=state,
    )
    session.flush()
    made.created_at = created_at


def test_scheduled_restore_tests_are_queued_once_per_firing(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        for name in ("nightly", "own-rules"):
            new_service(session, name=name)
            add_backup(session, name, "old", NOW - timedelta(days=2))
        add_backup(session, "nightly", "before-firing", NOW - timedelta(hours=2))
        add_backup(session, "nightly", "after-firing", NOW - timedelta(minutes=30))
        add_backup(session, "nightly", "pending", NOW - timedelta(hours=3), state="Pending")
        strategies.put_strategy(
            session, project="acme", service=None, container="default", restore_test_schedule="0 5 * * *"
        )
        strategies.put_strategy(session, project="acme", service="own-rules", container="own")  # no restore tests
    scheduler = Scheduler(sessions, wake=lambda: None)
    assert scheduler.tick(NOW) == 1
    with transaction(sessions) as session:
        [job] = jobs.list_jobs(session)
        tested = backups.get_backup_by_id(session, backup_id=int(job.payload["backup_id"]))
        assert tested is not None and (tested.service, tested.name) == ("nightly", "before-firing")
        assert tested.restore_test_state == "running" and job.kind == "restore_test"
    assert scheduler.tick(NOW + timedelta(minutes=5)) == 0, "running: not queued twice"
    with transaction(sessions) as session:
        tested = backups.get_backup(session, project="acme", service="nightly", name="before-firing")
        assert tested is not None
        backups.update_backup(
            session, backup=tested, restore_test_state="passed", restore_tested_at=NOW - timedelta(minutes=20)
        )
    assert scheduler.tick(NOW + timedelta(minutes=10)) == 0, "tested since the firing"
    assert scheduler.tick(NOW + timedelta(days=1)) == 1, "the next firing tests the newest backup before it"
    with transaction(sessions) as session:
        newest = backups.get_backup(session, project="acme", service="nightly", name="after-firing")
        assert newest is not None and newest.restore_test_state == "running"
        pending = backups.get_backup(session, project="acme", service="nightly", name="pending")
        assert pending is not None
        with pytest.raises(NotTestable, match="only a Succeeded backup"):
            queue_restore_test(session, pending)
