"""A store that stays down never fills a MariaDB service's disk, and the gap it leaves shows until a backup closes it.

Real MariaDB, mariabackup and files: the service's own store refuses writes (chattr +i on its binary log
directory, which even root cannot write into) while the tenant writes binary logs well past `wal_queue_max_mb`.
The control plane then purges the oldest unarchived logs instead of letting the datadir grow, shows the gap on
the service and in the report, refuses a fork at the latest transaction and at a time after the gap, and clears
the gap once a backup is taken after it. What it writes in the store under `mysql/` belongs to the mysql account.
"""

from __future__ import annotations

import pwd
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.controlplane.cp_process import ControlPlane, wait_for_state
from tests.controlplane.mysql_plane import mysql_control_plane, tenant_client
from tests.controlplane.test_archive_gap import wait_until
from tests.controlplane.test_backups import backup
from tests.mysql_client import rows

SERVICES = "/v1/projects/acme/services"
BUSY = f"{SERVICES}/busy"
CAP_MB = 4
MB = 1024 * 1024


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    with mysql_control_plane(
        "dbaas-cp-mysql-gap-",
        f"wal_queue_max_mb = {CAP_MB}\nbinlog_archive_seconds = 0.5\nreplication_interval = 0.5\n",
        after_stop=unlock_stores,
    ) as control_plane:
        yield control_plane


@pytest.fixture(scope="module")
def api(plane: ControlPlane) -> Iterator[httpx.Client]:
    yield from tenant_client(plane)


def unlock_stores(data_dir: Path) -> None:
    """A store a failed test left immutable (chattr +i) can be removed again."""
    subprocess.run(["chattr", "-R", "-i", str(data_dir / "regions")], capture_output=True)


def write_binlog_file(plane: ControlPlane, service: dict[str, Any]) -> str:
    """Commit about a MiB of rows, then wait for the archiver's next pass to close the log they went to: a busy
    tenant's logs, one closed file per pass. The name of that log."""
    before = binlog_files(plane)[-1]
    rows(str(service["uri"]), "INSERT INTO filler (body) SELECT REPEAT(MD5(RAND()), 32) FROM seq_1_to_1000")
    wait_until("the archiver to close the binary log", lambda: binlog_files(plane)[-1] != before, timeout=30)
    return before.name


def binlog_files(plane: ControlPlane) -> list[Path]:
    """The binary logs in the service's datadir (the operator's view: the file system), oldest first."""
    data_dir = next(plane.data_dir.glob("regions/local-east/services/acme/busy*/data"))
    return sorted(data_dir.glob("binlog.[0-9]*"))


def held_bytes(plane: ControlPlane) -> int:
    total = 0
    for path in binlog_files(plane):
        try:
            total += path.stat().st_size
        except FileNotFoundError:  # purged meanwhile
            continue
    return total


def fork(api: httpx.Client, name: str = "latest", **fork_from: object) -> httpx.Response:
    body = {"name": name, "service_type": "mysql", "cloud": "local-east", "plan": "hobbyist"}
    return api.post(SERVICES, json={**body, "fork_from": {"service": "busy", **fork_from}})


def test_a_store_down_past_the_cap_leaves_a_binlog_gap_shown_until_the_next_backup(
    plane: ControlPlane, api: httpx.Client
) -> None:
    body = {"name": "busy", "service_type": "mysql", "cloud": "local-east", "plan": "hobbyist"}
    created = api.post(SERVICES, json={**body, "user_config": {"additional_backup_regions": ["local-west"]}})
    assert created.status_code == 201, created.text
    service = wait_for_state(api, BUSY, {"RUNNING"})
    rows(str(service["uri"]), "CREATE TABLE filler (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT)")
    backup(api, f"{BUSY}/backups", name="before")
    assert api.get(BUSY).json()["archive_gap"] is None
    rows(str(service["uri"]), "CREATE TABLE notes (body TEXT)")
    rows(str(service["uri"]), "INSERT INTO notes VALUES ('before-the-gap')")
    # A point in time before the gap, in a second after the note's (MariaDB stamps events to the second) and
    # before the filler's: the log they share, archived before the store goes down, ends after it.
    before_gap = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    wait_until("the next second", lambda: datetime.now(UTC) >= before_gap, timeout=2)

    closed = write_binlog_file(plane, service)
    index = wait_until(
        "the binary log index",
        lambda: next(
            plane.data_dir.glob("regions/local-east/objects/default/mysql/acme-busy-*/binlog/index.json"), None
        ),
    )
    wait_until(f"{closed} to be archived", lambda: f'"{closed}"' in index.read_text())
    binlogs = index.parent
    subprocess.run(["chattr", "+i", str(binlogs)], check=True)
    try:
        for _ in range(3 * CAP_MB):
            write_binlog_file(plane, service)
        # Without the cap the datadir would hold every one of those logs: three times the cap.
        wait_until("the datadir to hold no more than the cap", lambda: held_bytes(plane) <= CAP_MB * MB)
        # Every log before the oldest one the server holds went unarchived: the gap runs up to it.
        last_purged = f"binlog.{int(binlog_files(plane)[0].suffix[1:]) - 1:06d} "
        gap = wait_until(
            f"the gap up to {last_purged}to show",
            lambda: (shown := api.get(BUSY).json()["archive_gap"]) and last_purged in shown and shown,
        )
    finally:
        subprocess.run(["chattr", "-i", str(binlogs)], check=True)
    assert gap.startswith("binary log binlog.") and "missing from the archive" in gap, gap
    report = api.post(f"{BUSY}/backup_to_another_region/report", json={"period": "hour"})
    assert report.json()["archive_gap"] == gap

    refused = fork(api)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "fork_from.service"
    assert "latest transaction" in refused.json()["error"]["message"]
    after_gap = fork(api, recovery_target_time=datetime.now(UTC).isoformat())
    assert after_gap.status_code == 422, after_gap.text
    assert after_gap.json()["error"]["field"] == "fork_from.recovery_target_time"

    # The store takes logs again: what the server still held is archived, the hole stays before it.
    wait_until("the held logs to be archived", lambda: len(binlog_files(plane)) == 1)
    assert api.get(BUSY).json()["archive_gap"] == gap

    # A point in time before the gap is still reached: the replay stops before the missing logs.
    earlier = fork(api, "before-gap", recovery_target_time=before_gap.isoformat())
    assert earlier.status_code == 201, earlier.text
    forked = wait_for_state(api, f"{SERVICES}/before-gap", {"RUNNING"}, timeout=300)
    assert rows(str(forked["uri"]), "SELECT body FROM notes") == ["before-the-gap"]
    assert rows(str(forked["uri"]), "SELECT COUNT(*) FROM filler") == ["0"]
    assert api.delete(f"{SERVICES}/before-gap").status_code == 202

    backup(api, f"{BUSY}/backups", name="after", incremental=True)
    wait_until("the gap to close", lambda: api.get(BUSY).json()["archive_gap"] is None)


def test_mysql_objects_in_a_directory_store_belong_to_the_mysql_account(plane: ControlPlane) -> None:
    mysql, postgres = pwd.getpwnam("mysql").pw_uid, pwd.getpwnam("postgres").pw_uid
    for region in ("local-east", "local-west"):  # the service's store, and the copy the replicator made
        container = plane.data_dir / "regions" / region / "objects" / "default"
        mysql_objects = container / "mysql"
        wait_until(
            f"the backups in {region}", lambda c=mysql_objects: len(list(c.glob("*/backups/*/manifest.json"))) == 2
        )
        stored = [mysql_objects, *mysql_objects.rglob("*")]
        assert any(path.suffix == ".zst" for path in stored)
        assert {path: path.stat().st_uid for path in stored if path.stat().st_uid != mysql} == {}
        # The container stays the account's that runs pgBackRest: PostgreSQL stanzas share it.
        assert container.stat().st_uid == postgres
