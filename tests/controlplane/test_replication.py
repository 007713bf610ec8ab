"""Backup to another region: real PostgreSQL, real pgBackRest, real files in each region's store, real HTTP.

Regions: local-east (every primary), local-west (copies; the happy path), local-north (copies; the
permission and missing-directory faults) and local-south (copies on a small tmpfs: the full store).
The faults are real: an immutable directory (chattr +i, which even root cannot write into), a removed
store, a full filesystem. Each test uses services of its own.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.jobs.archiving import Archiving
from controlplane.settings import Settings, load_settings
from controlplane.storage.repository_copy import plan_copy
from tests.controlplane.cp_process import (
    ControlPlane,
    remove_tree,
    stop_leftover_servers,
    unprivileged_reachable_dir,
    wait_for_gone,
    wait_for_state,
)
from tests.controlplane.test_backups import backup, notes, sql

PROJECT = "/v1/projects/acme"


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    data_dir = unprivileged_reachable_dir("dbaas-cp-replication-")
    south = data_dir / "south-store"
    south.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0711", "tmpfs", str(south)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.fail(f"the full-store test needs a tmpfs mount (root with CAP_SYS_ADMIN): {mounted.stderr}")
    config = data_dir / "dbaas-cp.toml"
    config.write_text(
        "replication_interval = 0.5\nlag_sample_seconds = 1\n"
        + "".join(f'[[regions]]\nname = "{name}"\n' for name in ("local-east", "local-west", "local-north"))
        + f'[[regions]]\nname = "local-south"\nobject_store = "{south}"\n'
    )
    control_plane = ControlPlane(data_dir, config).start()
    yield control_plane
    control_plane.stop()
    stop_leftover_servers(data_dir)
    subprocess.run(["chattr", "-R", "-i", str(data_dir / "regions")], capture_output=True)
    subprocess.run(["umount", str(south)], check=False)
    remove_tree(data_dir)


@pytest.fixture(scope="module")
def settings(plane: ControlPlane) -> Settings:
    assert plane.config is not None
    return load_settings(plane.data_dir, None, plane.config)


@pytest.fixture(scope="module")
def acme(plane: ControlPlane) -> Iterator[httpx.Client]:
    with plane.client(plane.create_token("acme")) as client:
        yield client


def create_service(client: httpx.Client, name: str, regions: list[str], container: str | None = None) -> dict[str, Any]:
    body = {
        "name": name,
        "service_type": "pg",
        "cloud": "local-east",
        "plan": "hobbyist",
        "user_config": {"additional_backup_regions": regions},
    }
    created = client.post(f"{PROJECT}/services", json=body)
    assert created.status_code == 201, created.text
    service = wait_for_state(client, f"{PROJECT}/services/{name}", {"RUNNING"})
    if container is not None:
        put = client.put(f"{PROJECT}/services/{name}/backup_strategy", json={"container": container})
        assert put.status_code == 200, put.text
    sql(service, "CREATE TABLE notes (body text, at timestamptz DEFAULT clock_timestamp())")
    return service


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)
    return result


def replica(client: httpx.Client, service: str, name: str, region: str) -> dict[str, Any] | None:
    found = client.get(f"{PROJECT}/services/{service}/backups/{name}").json()["replicas"]
    return next((r for r in found if r["region"] == region), None)


def wait_for_replica(client: httpx.Client, service: str, name: str, region: str, state: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = replica(client, service, name, region)
        return found if found is not None and found["state"] == state else None

    result: dict[str, Any] = wait_until(reached, f"the copy of {name} in {region} to be {state}")
    return result


def repositories(settings: Settings, container: str, region: str) -> tuple[Path, Path]:
    """The primary (local-east) and the copy's repository of a container."""
    east, copy = settings.region("local-east"), settings.region(region)
    assert east is not None and copy is not None and east.object_store and copy.object_store
    return east.object_store / container, copy.object_store / container


def stanza_of(plane: ControlPlane, name: str) -> str:
    [config] = (plane.data_dir / "pgbackrest").glob(f"acme-{name}-*")
    return config.name


def report(client: httpx.Client, service: str, period: str = "hour") -> dict[str, Any]:
    response = client.post(f"{PROJECT}/services/{service}/backup_to_another_region/report", json={"period": period})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_copy_is_restorable_after_the_primary_store_is_gone(
    plane: ControlPlane, settings: Settings, acme: httpx.Client
) -> None:
    service = create_service(acme, "orders", ["local-west"], container="btar")
    sql(service, "INSERT INTO notes (body) VALUES ('before backup')")
    taken = backup(acme, f"{PROJECT}/services/orders/backups", name="base")
    copy = wait_for_replica(acme, "orders", "base", "local-west", "Succeeded")
    assert copy["replicated_at"] is not None and copy["state_message"] is None

    sql(service, "INSERT INTO notes (body) VALUES ('after backup')")
    # A user's next backup: its WAL, with the row, reaches the archive and then the copy.
    backup(acme, f"{PROJECT}/services/orders/backups", name="after", incremental=True)
    wait_for_replica(acme, "orders", "after", "local-west", "Succeeded")
    stanza = stanza_of(plane, "orders")
    primary, secondary = repositories(settings, "btar", "local-west")
    archiving = Archiving(settings)
    stores = archiving.repository(str(primary)), archiving.repository(str(secondary))
    wait_until(lambda: plan_copy(*stores, stanza).up_to_date, "the WAL after the backup to be copied")
    problems = archiving.repository_driver(stanza, str(secondary)).verify(repo=1, label=None)
    assert problems == [], f"pgbackrest verify on the copy: {problems}"

    found = wait_until(
        lambda: report(acme, "orders")["regions"][0]["samples"] and report(acme, "orders"), "lag samples"
    )
    [west] = found["regions"]
    assert (west["region"], west["status"], west["message"]) == ("local-west", "ok", None)
    assert west["lag_seconds"] == 0 and all(s["lag_seconds"] >= 0 for s in west["samples"])
    assert found["bucket_seconds"] == 60

    shutil.rmtree(primary)  # the primary region's store for this service is gone
    body = {
        "name": "orders-west",
        "service_type": "pg",
        "cloud": "local-west",
        "plan": "hobbyist",
        "fork_from": {"service": "orders"},
    }
    assert acme.post(f"{PROJECT}/services", json=body).status_code == 201
    forked = wait_for_state(acme, f"{PROJECT}/services/orders-west", {"RUNNING"}, timeout=300)
    assert forked["restored_from"]["region"] == "local-west"
    assert notes(forked) == {"before backup", "after backup"}
    assert taken["region"] == "local-east"


def test_commit_then_fork_at_once_in_the_backup_region(acme: httpx.Client) -> None:
    """A user commits and forks in the backup region at once: no WAL switch, no wait for the copy."""
    service = create_service(acme, "ledger", ["local-west"])
    backup(acme, f"{PROJECT}/services/ledger/backups", name="base")
    wait_for_replica(acme, "ledger", "base", "local-west", "Succeeded")
    sql(service, "INSERT INTO notes (body) VALUES ('just committed')")
    body = {
        "name": "ledger-west",
        "service_type": "pg",
        "cloud": "local-west",
        "plan": "hobbyist",
        "fork_from": {"service": "ledger"},
    }
    assert acme.post(f"{PROJECT}/services", json=body).status_code == 201
    forked = wait_for_state(acme, f"{PROJECT}/services/ledger-west", {"RUNNING"}, timeout=300)
    assert forked["restored_from"]["region"] == "local-west" and forked["state_message"] is None
    assert notes(forked) == {"just committed"}
    for name in ("ledger-west", "ledger"):
        assert acme.delete(f"{PROJECT}/services/{name}").status_code == 202
        wait_for_gone(acme, f"{PROJECT}/services/{name}")


def test_report_period_is_checked(acme: httpx.Client) -> None:
    response = acme.post(f"{PROJECT}/services/orders/backup_to_another_region/report", json={"period": "decade"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "period"
    missing = acme.post(f"{PROJECT}/services/nowhere/backup_to_another_region/report", json={"period": "day"})
    assert missing.status_code == 404
    for period, bucket in (("day", 900), ("week", 3600), ("month", 21600), ("year", 86400)):
        assert report(acme, "orders", period)["bucket_seconds"] == bucket


def test_enabling_copies_existing_backups_and_disabling_keeps_them(
    plane: ControlPlane, settings: Settings, acme: httpx.Client
) -> None:
    create_service(acme, "legacy", [])
    path = f"{PROJECT}/services/legacy"
    backup(acme, f"{path}/backups", name="old")
    assert replica(acme, "legacy", "old", "local-west") is None
    enabled = acme.patch(path, json={"user_config": {"additional_backup_regions": ["local-west"]}})
    assert enabled.status_code == 200, enabled.text
    wait_for_replica(acme, "legacy", "old", "local-west", "Succeeded")

    assert acme.patch(path, json={"user_config": {"additional_backup_regions": []}}).status_code == 200
    backup(acme, f"{path}/backups", name="new")
    time.sleep(2)  # four replication passes
    assert acme.get(f"{path}/backups/new").json()["replicas"] == []
    assert replica(acme, "legacy", "old", "local-west") is not None
    stanza = stanza_of(plane, "legacy")
    _, secondary = repositories(settings, "default", "local-west")
    labels = {p.name for p in (secondary / "backup" / stanza).iterdir() if p.name[0].isdigit()}
    assert len(labels) == 1, "the old copy stays, the new backup is not copied"


def test_a_full_store_fails_the_copy_and_catches_up_when_it_has_room(
    plane: ControlPlane, settings: Settings, acme: httpx.Client
) -> None:
    service = create_service(acme, "cramped", ["local-south"])
    sql(service, "INSERT INTO notes (body) SELECT 'row ' || n FROM generate_series(1, 1000) n")
    taken = backup(acme, f"{PROJECT}/services/cramped/backups", name="big")
    assert taken["state"] == "Succeeded", "the primary is unaffected"
    failed = wait_for_replica(acme, "cramped", "big", "local-south", "Failed")
    assert "full" in failed["state_message"]
    [south] = wait_until(
        lambda: report(acme, "cramped")["regions"][0]["status"] == "failing" and report(acme, "cramped")["regions"],
        "the report to say failing",
    )
    assert "full" in south["message"]
    store = settings.region("local-south")
    assert store is not None and store.object_store is not None
    subprocess.run(["mount", "-o", "remount,size=512m", str(store.object_store)], check=True)
    wait_for_replica(acme, "cramped", "big", "local-south", "Succeeded")
    stanza = stanza_of(plane, "cramped")
    problems = Archiving(settings).repository_driver(stanza, store.object_store / "default").verify(repo=1, label=None)
    assert problems == []


def test_an_unwritable_then_missing_store_fails_the_copy_until_it_returns(
    plane: ControlPlane, settings: Settings, acme: httpx.Client
) -> None:
    north = settings.region("local-north")
    assert north is not None and north.object_store is not None
    container = north.object_store / "default"
    locked = [container / "archive", container / "backup"]
    for directory in locked:
        directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["chattr", "+i", *map(str, locked)], check=True)
    try:
        create_service(acme, "locked", ["local-north"])
        backup(acme, f"{PROJECT}/services/locked/backups", name="first")
        failed = wait_for_replica(acme, "locked", "first", "local-north", "Failed")
        assert "not permitted" in failed["state_message"]
    finally:
        subprocess.run(["chattr", "-i", *map(str, locked)], check=True)
    wait_for_replica(acme, "locked", "first", "local-north", "Succeeded")

    # Gone at once, as an unmounted volume is (a recursive delete would race with the copy in progress).
    north.object_store.rename(north.object_store.with_name("objects-gone"))
    backup(acme, f"{PROJECT}/services/locked/backups", name="second")
    failed = wait_for_replica(acme, "locked", "second", "local-north", "Failed")
    assert "does not exist" in failed["state_message"]
    assert not north.object_store.exists(), "a vanished store is reported, not re-created"
    north.object_store.mkdir(mode=0o711)
    wait_for_replica(acme, "locked", "second", "local-north", "Succeeded")
    wait_for_replica(acme, "locked", "first", "local-north", "Succeeded")
