"""A store that stays down never fills the database's disk, and the gap it leaves is shown until a backup closes it.

Real PostgreSQL, pgBackRest and files: the service's own store refuses writes (chattr +i on its archive
directory, which even root cannot write into) while the tenant writes more WAL than `wal_queue_max_mb` allows.
pgBackRest then drops the queue instead of letting pg_wal grow; the control plane shows the gap on the service,
refuses a fork at the latest transaction (which would silently stop at the gap), and clears the gap once a
full backup is taken after it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.controlplane.cp_process import (
    ControlPlane,
    remove_tree,
    stop_leftover_servers,
    unprivileged_reachable_dir,
    wait_for_state,
)
from tests.controlplane.test_backups import backup, sql

SERVICES = "/v1/projects/acme/services"
QUEUE_MB = 32  # two WAL segments: with one, pgBackRest drops each segment as it comes


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    data_dir = unprivileged_reachable_dir("dbaas-cp-archive-gap-")
    config = data_dir / "dbaas-cp.toml"
    config.write_text(f"wal_queue_max_mb = {QUEUE_MB}\nlag_sample_seconds = 1\n")
    control_plane = ControlPlane(data_dir, config).start()
    yield control_plane
    control_plane.stop()
    stop_leftover_servers(data_dir, config)
    subprocess.run(["chattr", "-R", "-i", str(data_dir / "regions")], capture_output=True)
    remove_tree(data_dir)


def write_wal(service: dict[str, Any], megabytes: int) -> None:
    """Commit about `megabytes` of rows: as much WAL, which fills and switches segments as a busy tenant does."""
    sql(service, "CREATE TABLE IF NOT EXISTS filler (body text)")
    for _ in range(megabytes):
        sql(service, "INSERT INTO filler SELECT repeat(md5(random()::text), 32) FROM generate_series(1, 1000)")


def wait_until(what: str, check: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)
    return found


def test_a_store_down_longer_than_the_wal_queue_leaves_a_gap_shown_until_the_next_full_backup(
    plane: ControlPlane,
) -> None:
    with plane.client(plane.create_token("acme")) as api:
        api.post(
            SERVICES, json={"name": "busy", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
        ).raise_for_status()
        service = wait_for_state(api, f"{SERVICES}/busy", {"RUNNING"})
        backup(api, f"{SERVICES}/busy/backups", name="before")
        assert api.get(f"{SERVICES}/busy").json()["archive_gap"] is None

        archive = next(plane.data_dir.glob("regions/local-east/objects/default/archive/acme-busy-*/15-1/*"))
        ready = Path(service_data_dir(plane, "busy")) / "pg_wal" / "archive_status"
        subprocess.run(["chattr", "+i", str(archive)], check=True)
        try:
            write_wal(service, 3 * QUEUE_MB)
            # pgBackRest fails to push; past the queue's limit it drops the queue and tells PostgreSQL the WAL
            # was archived, so pg_wal does not keep it.
            wait_until(
                "pg_wal to hold no more than the queue's worth of WAL",
                lambda: len(list(ready.glob("*.ready"))) <= QUEUE_MB // 16,
                timeout=300,
            )
        finally:
            subprocess.run(["chattr", "-i", str(archive)], check=True)

        write_wal(service, 2 * QUEUE_MB)  # archived again: the archive now has a hole before these
        try:
            gap = wait_until("the gap to show", lambda: api.get(f"{SERVICES}/busy").json()["archive_gap"])
        except AssertionError:
            listed = sorted(path.name[:24] for path in archive.iterdir())
            logged = [line for line in plane.log.read_text().splitlines() if "api.access" not in line]
            raise AssertionError(f"archive holds {listed}; log: {logged[-30:]}") from None
        assert "missing from the archive" in gap and "next full backup" in gap, gap
        report = api.post(f"{SERVICES}/busy/backup_to_another_region/report", json={"period": "hour"})
        assert report.json()["archive_gap"] == gap

        refused = api.post(
            SERVICES,
            json={"name": "latest", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist",
                  "fork_from": {"service": "busy"}},
        )  # fmt: skip
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["field"] == "fork_from.service"

        backup(api, f"{SERVICES}/busy/backups", name="after")  # not incremental: a full backup
        wait_until("the gap to close", lambda: api.get(f"{SERVICES}/busy").json()["archive_gap"] is None)
        api.delete(f"{SERVICES}/busy").raise_for_status()


def service_data_dir(plane: ControlPlane, name: str) -> str:
    """The data directory of a service of project acme (the operator's view: the file system)."""
    return str(next(plane.data_dir.glob(f"regions/local-east/services/acme/{name}*")))
