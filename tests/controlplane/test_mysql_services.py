"""MySQL services (MariaDB 10.11 + mariabackup) through the real control plane: real HTTP, real MariaDB servers run
by the `mysql` account, the `mariadb` client, directory stores in two regions.

One source service with a backup region is shared by the module; the tests run in file order, as its life does:
rows, a full and an incremental backup, the binary logs archived by the control plane's own thread, a fork in
the backup region at the latest transaction, a fork at a point in time between two markers, deletion.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.engine.mariadb import CONF_NAME, MariaDB
from tests.controlplane.cp_process import (
    ControlPlane,
    wait_for_gone,
    wait_for_state,
)
from tests.controlplane.mysql_plane import mysql_control_plane, tenant_client
from tests.mysql_client import mariadb, rows

PROJECT = "/v1/projects/acme"
SOURCE = f"{PROJECT}/services/shop"
BACKUPS = f"{SOURCE}/backups"


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    with mysql_control_plane(
        "dbaas-cp-mysql-", "replication_interval = 0.5\nbinlog_archive_seconds = 0.5\n"
    ) as control_plane:
        yield control_plane


@pytest.fixture(scope="module")
def acme(plane: ControlPlane) -> Iterator[httpx.Client]:
    yield from tenant_client(plane)


@pytest.fixture(scope="module")
def source(acme: httpx.Client) -> dict[str, Any]:
    body = {
        "name": "shop",
        "service_type": "mysql",
        "cloud": "local-east",
        "plan": "hobbyist",
        "user_config": {"additional_backup_regions": ["local-west"]},
    }
    created = acme.post(f"{PROJECT}/services", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == "10.11"
    service = wait_for_state(acme, SOURCE, {"RUNNING"})
    sql(service, "CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(64))")
    return service


def sql(service: dict[str, Any], statement: str) -> list[str]:
    """`statement` run by the `mariadb` client as the service's tenant, over the service's `uri`."""
    return rows(str(service["uri"]), statement)


def notes(service: dict[str, Any]) -> list[str]:
    return sql(service, "SELECT body FROM notes ORDER BY id")


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)
    return result


def backup(client: httpx.Client, **body: object) -> dict[str, Any]:
    response = client.post(BACKUPS, json=body)
    assert response.status_code == 202, response.text
    path = f"{BACKUPS}/{response.json()['name']}"

    def finished() -> dict[str, Any] | None:
        found: dict[str, Any] = client.get(path).json()
        return found if found["state"] in ("Succeeded", "Failed") else None

    done: dict[str, Any] = wait_until(finished, f"backup {path}")
    assert done["state"] == "Succeeded", done["state_message"]
    return done


def fork(client: httpx.Client, name: str, cloud: str, **fork_from: object) -> dict[str, Any]:
    body = {
        "name": name,
        "service_type": "mysql",
        "cloud": cloud,
        "plan": "hobbyist",
        "fork_from": {"service": "shop", **fork_from},
    }
    created = client.post(f"{PROJECT}/services", json=body)
    assert created.status_code == 201, created.text
    return wait_for_state(client, f"{PROJECT}/services/{name}", {"RUNNING"}, timeout=300)


def store(plane: ControlPlane, region: str) -> Path:
    return plane.data_dir / "regions" / region / "objects"


def stanza_dir(handle: str, region: str | None = None) -> Path:
    """`mysql/<stanza>/` in the repository a backup handle names (or in its copy in `region`)."""
    repository, rest = handle.removeprefix("mariabackup:").split("#", 1)
    if region is not None:
        repository = repository.replace("/local-east/", f"/{region}/")
    return Path(repository) / "mysql" / rest.split("/", 1)[0]


def test_a_mysql_service_runs_mariadb_for_its_tenant_only(source: dict[str, Any]) -> None:
    assert source["uri"].startswith(f"mysql://dbaasadmin:{urllib.parse.quote(source['password'], safe='')}@127.0.0.1:")
    assert sql(source, "SELECT VERSION()")[0].startswith("10.11"), "MariaDB 10.11"
    sql(source, "INSERT INTO notes (body) VALUES ('before-full')")
    denied = mariadb(source["uri"], "CREATE DATABASE elsewhere", database=None)
    assert denied.returncode != 0 and "denied" in denied.stderr, "no privileges beyond its own databases"


def test_full_and_incremental_backups(acme: httpx.Client, source: dict[str, Any], plane: ControlPlane) -> None:
    full = backup(acme, name="full-1")
    assert full["type"] == "full" and full["backup_handle"].startswith("mariabackup:")
    sql(source, "INSERT INTO notes (body) VALUES ('before-incr')")
    incremental = backup(acme, name="incr-1", parent="full-1")
    assert incremental["type"] == "incremental" and incremental["parent"] == "full-1"
    sql(source, "INSERT INTO notes (body) VALUES ('before-incr-2')")
    # Trove's semantics: any earlier backup of the chain may be the parent, not only the latest.
    second = backup(acme, name="incr-2", parent="full-1")
    assert second["parent"] == "full-1"
    manifests = sorted(stanza_dir(full["backup_handle"]).glob("backups/*/manifest.json"))
    assert len(manifests) == 3
    verified = acme.post(f"{BACKUPS}/incr-2/verify")
    assert verified.status_code in (200, 202), verified.text
    wait_until(lambda: acme.get(f"{BACKUPS}/incr-2").json().get("verify_state") == "passed", "verification")


def test_a_restore_test_checks_every_table(acme: httpx.Client, source: dict[str, Any]) -> None:
    started = acme.post(f"{BACKUPS}/incr-2/restore_test")
    assert started.status_code in (200, 202), started.text

    def tested() -> dict[str, Any] | None:
        found: dict[str, Any] | None = acme.get(f"{BACKUPS}/incr-2").json()["last_restore_test"]
        return found if found is not None and found["state"] != "running" else None

    result = wait_until(tested, "the restore test")
    assert result["state"] == "passed", result
    assert "CHECK TABLE found no damage" in result["message"] and "defaultdb" in result["message"]


def test_binary_logs_are_archived_from_birth(source: dict[str, Any], plane: ControlPlane, acme: httpx.Client) -> None:
    handle = acme.get(f"{BACKUPS}/full-1").json()["backup_handle"]
    index = stanza_dir(handle) / "binlog/index.json"
    before = index.read_bytes()
    sql(source, "INSERT INTO notes (body) VALUES ('archived-by-the-thread')")
    wait_until(lambda: index.read_bytes() != before, "the archiver thread to archive the new binary log", timeout=30)
    copy = stanza_dir(handle, "local-west") / "binlog/index.json"
    wait_until(lambda: copy.exists() and copy.read_bytes() == index.read_bytes(), "the copy of the binlog index")


def test_a_fork_in_the_backup_region_holds_the_latest_transaction(acme: httpx.Client, source: dict[str, Any]) -> None:
    sql(source, "INSERT INTO notes (body) VALUES ('latest')")
    forked = fork(acme, "shop-west", "local-west")
    assert forked["restored_from"]["region"] == "local-west"
    assert notes(forked) == notes(source)
    assert notes(forked)[-1] == "latest"
    sql(forked, "INSERT INTO notes (body) VALUES ('only-in-the-fork')")
    assert "only-in-the-fork" not in notes(source)


def test_a_fork_at_a_point_in_time_between_two_markers(acme: httpx.Client, source: dict[str, Any]) -> None:
    before_marker = datetime.now(UTC).replace(microsecond=0)
    sql(source, "INSERT INTO notes (body) VALUES ('marker-1')")
    time.sleep(1.1)  # MariaDB stamps binary log events to the second: the markers need different seconds
    target = datetime.now(UTC)
    time.sleep(1.1)
    sql(source, "INSERT INTO notes (body) VALUES ('marker-2')")
    forked = fork(acme, "shop-then", "local-east", recovery_target_time=target.isoformat())
    rows = notes(forked)
    assert "marker-1" in rows and "marker-2" not in rows
    # restored_from reports marker-1's commit, the last one replayed, in a second before the target's.
    recovered = datetime.fromisoformat(forked["restored_from"]["recovery_time"])
    assert before_marker <= recovered < target.replace(microsecond=0), (recovered, target)


def test_a_fork_must_keep_the_source_service_type(acme: httpx.Client, source: dict[str, Any]) -> None:
    body = {"name": "wrong", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
    refused = acme.post(f"{PROJECT}/services", json={**body, "fork_from": {"service": "shop"}})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "service_type"


def test_an_imported_mariabackup_handle_is_forked_and_forgotten(acme: httpx.Client, plane: ControlPlane) -> None:
    handle = acme.get(f"{BACKUPS}/incr-1").json()["backup_handle"]
    adopted = f"{PROJECT}/services/elsewhere/backups/adopted"
    wrong = acme.put(adopted, json={"import_source": {"backup_handle": handle}})  # the plugin says pgbackrest
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "import_source.backup_handle"
    source = {"backup_handle": handle, "backup_plugin": "mariabackup"}
    missing = acme.put(adopted, json={"import_source": {**source, "backup_handle": handle[:-1] + "X"}})
    assert missing.status_code in (404, 422), missing.text
    imported = acme.put(adopted, json={"import_source": source})
    assert imported.status_code == 202, imported.text
    assert imported.json()["state"] == "Succeeded" and imported.json()["type"] == "incremental"
    body = {"name": "from-import", "service_type": "mysql", "cloud": "local-east", "plan": "hobbyist"}
    created = acme.post(
        f"{PROJECT}/services", json={**body, "fork_from": {"service": "elsewhere", "backup": "adopted"}}
    )
    assert created.status_code == 201, created.text
    forked = wait_for_state(acme, f"{PROJECT}/services/from-import", {"RUNNING"}, timeout=300)
    assert notes(forked) == ["before-full", "before-incr"]
    assert acme.delete(f"{PROJECT}/services/from-import").status_code == 202
    wait_for_gone(acme, f"{PROJECT}/services/from-import")
    # Forgetting an imported backup never deletes its data.
    assert acme.delete(adopted).status_code == 202
    wait_for_gone(acme, adopted)
    assert (stanza_dir(handle) / "backups" / handle.rsplit("/", 1)[1] / "manifest.json").exists()


def test_a_new_plan_restarts_the_server_with_its_settings(acme: httpx.Client, source: dict[str, Any]) -> None:
    before = notes(source)
    changed = acme.patch(SOURCE, json={"plan": "startup-4"})
    assert changed.status_code == 200, changed.text
    service = wait_for_state(acme, SOURCE, {"RUNNING"})
    assert service["plan"] == "startup-4" and notes(service) == before
    assert sql(service, "SELECT @@innodb_buffer_pool_size, @@max_connections") == [f"{2 << 30}\t100"]


def test_a_restart_brings_back_a_stopped_server_and_leaves_a_running_one(
    acme: httpx.Client, source: dict[str, Any], plane: ControlPlane
) -> None:
    home = plane.data_dir / "regions" / "local-east" / "services" / "acme" / "shop"
    MariaDB(home, port=source["port"]).stop()
    plane.stop()
    plane.start()
    service = wait_for_state(acme, SOURCE, {"RUNNING"})
    assert notes(service)[0] == "before-full", "the data is kept"
    log = plane.log.read_text()
    assert log.count("shop was RUNNING and is down: starting it") == 1
    plane.stop()
    plane.start()
    assert plane.log.read_text().count("was RUNNING and is down") == 1, "a running server is left alone"


def test_deletion_leaves_nothing(acme: httpx.Client, source: dict[str, Any], plane: ControlPlane) -> None:
    stanza = acme.get(f"{BACKUPS}/full-1").json()["backup_handle"].split("#", 1)[1].split("/", 1)[0]
    for name in ("shop-west", "shop-then"):
        assert acme.delete(f"{PROJECT}/services/{name}").status_code == 202
        wait_for_gone(acme, f"{PROJECT}/services/{name}")
    assert acme.delete(f"{BACKUPS}/full-1").status_code in (200, 202)  # with its incrementals
    wait_for_gone(acme, f"{BACKUPS}/incr-2")
    assert acme.delete(SOURCE).status_code == 202
    wait_for_gone(acme, SOURCE)
    left = [path for region in ("local-east", "local-west") for path in store(plane, region).rglob(f"*{stanza}*")]
    assert left == []
    homes = list(plane.data_dir.glob(f"regions/*/services/acme/*/{CONF_NAME}"))
    assert homes == [], "no server home left"
