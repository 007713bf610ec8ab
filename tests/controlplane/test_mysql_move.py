"""A MySQL service moves to another region (PATCH `cloud`) with its data, and its binary logs follow it.

Real control plane, MariaDB run by the `mysql` account, directory stores in two regions. The rows committed
before the move are archived in the old region and stay there with its backups; after the move the server
runs from the new region's services directory, archives into the new region's store, and a backup and a fork
at the latest transaction there hold every row, before and after the move.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.engine.mariadb import CONF_NAME
from tests.controlplane.cp_process import (
    ControlPlane,
    wait_for_gone,
    wait_for_state,
)
from tests.controlplane.mysql_plane import mysql_control_plane, tenant_client
from tests.controlplane.test_mysql_services import notes, sql, wait_until

SERVICES = "/v1/projects/acme/services"
MOVER = f"{SERVICES}/mover"


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    with mysql_control_plane("dbaas-cp-mysql-move-", "binlog_archive_seconds = 0.5\n") as control_plane:
        yield control_plane


@pytest.fixture(scope="module")
def api(plane: ControlPlane) -> Iterator[httpx.Client]:
    yield from tenant_client(plane)


def archived_logs(plane: ControlPlane, region: str) -> list[str]:
    """The binary logs the archive index of `region`'s store lists (none without an index)."""
    index = next(plane.data_dir.glob(f"regions/{region}/objects/default/mysql/*/binlog/index.json"), None)
    return [] if index is None else [entry["name"] for entry in json.loads(index.read_text())["files"]]


def homes(plane: ControlPlane, region: str) -> list[Path]:
    return [path.parent for path in plane.data_dir.glob(f"regions/{region}/services/acme/*/{CONF_NAME}")]


def take_backup(api: httpx.Client, service: str) -> dict[str, Any]:
    response = api.post(f"{SERVICES}/{service}/backups", json={})
    assert response.status_code == 202, response.text
    path = f"{SERVICES}/{service}/backups/{response.json()['name']}"
    done: dict[str, Any] = wait_until(
        lambda: (found := api.get(path).json())["state"] in ("Succeeded", "Failed") and found, f"backup {path}"
    )
    assert done["state"] == "Succeeded", done["state_message"]
    return done


def test_a_mysql_service_moves_to_another_region_with_its_rows_and_binary_logs(
    plane: ControlPlane, api: httpx.Client
) -> None:
    body = {"name": "mover", "service_type": "mysql", "cloud": "local-east", "plan": "hobbyist"}
    assert api.post(SERVICES, json=body).status_code == 201
    service = wait_for_state(api, MOVER, {"RUNNING"})
    sql(service, "CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(64))")
    sql(service, "INSERT INTO notes (body) VALUES ('before-the-move')")
    east_backup = take_backup(api, "mover")
    assert "/local-east/" in east_backup["backup_handle"]

    moved = api.patch(MOVER, json={"cloud": "local-west"})
    assert moved.status_code == 200, moved.text
    service = wait_for_state(api, MOVER, {"RUNNING"}, timeout=300)
    assert service["cloud"] == "local-west"
    assert homes(plane, "local-east") == [] and len(homes(plane, "local-west")) == 1
    assert notes(service) == ["before-the-move"]
    # Everything written before the move was archived in the old region, where its backup stays.
    east_logs = archived_logs(plane, "local-east")
    assert east_logs, "the old region's archive holds the logs up to the move"

    sql(service, "INSERT INTO notes (body) VALUES ('after-the-move')")
    wait_until(lambda: archived_logs(plane, "local-west"), "the new region's archive")
    # The server kept its binary log index across the move: its logs go on from where they were.
    assert min(archived_logs(plane, "local-west")) > max(east_logs)
    west_backup = take_backup(api, "mover")
    assert west_backup["backup_handle"].startswith("mariabackup:") and "/local-west/" in west_backup["backup_handle"]

    sql(service, "INSERT INTO notes (body) VALUES ('latest')")
    fork = {"name": "mover-fork", "cloud": "local-west", "plan": "hobbyist", "fork_from": {"service": "mover"}}
    assert api.post(SERVICES, json=fork).status_code == 201
    forked = wait_for_state(api, f"{SERVICES}/mover-fork", {"RUNNING"}, timeout=300)
    assert notes(forked) == ["before-the-move", "after-the-move", "latest"]

    for name in ("mover-fork", "mover"):
        assert api.delete(f"{SERVICES}/{name}").status_code == 202
        wait_for_gone(api, f"{SERVICES}/{name}")
    assert homes(plane, "local-east") == homes(plane, "local-west") == []
