"""Two control planes on one PostgreSQL catalog: both serve, and `kill -9` of the one running a backup, a
fork or a copy to a backup region loses nothing: the other finishes the work, and the pgBackRest process
the dead one started dies with it instead of writing on in a repository the other has taken over."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import psycopg
import pytest

from controlplane.jobs import kinds
from tests.controlplane.cp_process import ControlPlane, wait_for_state
from tests.controlplane.test_catalog import head_revision
from tests.scaleout.conftest import Pair

PROJECT = "/v1/projects/acme"
T = TypeVar("T")
ROWS = 300_000  # some seconds of pgBackRest's work, so that a kill lands in the middle of it


@pytest.fixture(scope="module")
def region_settings() -> dict[str, str]:
    """Copies into local-west capped at 2 MB/s, as an operator caps the traffic between regions: the copy of a
    backup of ROWS rows then takes seconds, long enough to be interrupted however fast the disk is."""
    return {"local-west": "copy_bandwidth_mb = 2\n"}


@pytest.fixture(scope="module")
def clients(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[ControlPlane, httpx.Client]]:
    """A client of project acme on each control plane, with one token."""
    token = pair.create_token("acme", tmp_path_factory.mktemp("operator"))
    opened = {plane: plane.client(token) for plane in pair.planes}
    yield opened
    for client in opened.values():
        client.close()


def test_both_started_together_on_the_empty_catalog(pair: Pair) -> None:
    with psycopg.connect(pair.catalog.dsn) as connection:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert versions == [(head_revision(),)]
    for plane in pair.planes:
        with plane.client(plane.admin_token) as admin:
            assert admin.get("/v1/regions").status_code == 200


def test_token_create_with_the_config_works_on_both(pair: Pair, tmp_path: Path) -> None:
    token = pair.create_token("tokens", tmp_path)
    for plane in pair.planes:
        with plane.client(token) as client:
            assert client.get("/v1/projects/tokens/services").status_code == 200
            assert client.get(f"{PROJECT}/services").status_code == 404, "only its own project"


def test_kill_9_during_a_backup_and_during_a_fork(pair: Pair, clients: dict[ControlPlane, httpx.Client]) -> None:
    first = pair.planes[0]
    source = create_service(clients[first], "source")
    sql(source, f"CREATE TABLE t AS SELECT i, md5(i::text) AS v FROM generate_series(1, {ROWS}) AS i")

    assert clients[first].post(f"{PROJECT}/services/source/backups", json={"name": "interrupted"}).status_code == 202
    backup_path = f"{PROJECT}/services/source/backups/interrupted"
    killed = kill_mid_command(
        pair,
        kinds.TAKE_BACKUP,
        "source",
        "backup",
        ready=lambda plane: clients[plane].get(backup_path).json()["state"] == "Running",
    )
    survivor = clients[pair.other(killed)]
    taken = wait_until(lambda: finished(survivor.get(backup_path).json()), "the backup ends", timeout=180)
    assert taken["state"] == "Succeeded", taken["state_message"]
    assert taken["ready_to_use"]
    killed.start()

    fork_from = {"service": "source", "backup": "interrupted"}
    assert survivor.post(f"{PROJECT}/services", json=fork_body("copy", "local-east", fork_from)).status_code == 201
    killed = kill_mid_command(pair, kinds.FORK_SERVICE, "copy", "restore")
    forked = wait_for_state(clients[pair.other(killed)], f"{PROJECT}/services/copy", {"RUNNING"}, timeout=180)
    assert sql(forked, "SELECT count(*), max(i) FROM t") == [(ROWS, ROWS)]
    killed.start()


def test_kill_9_during_a_copy_to_a_backup_region(pair: Pair, clients: dict[ControlPlane, httpx.Client]) -> None:
    first = pair.planes[0]
    source = create_service(clients[first], "travel", user_config={"additional_backup_regions": ["local-west"]})
    sql(source, f"CREATE TABLE t AS SELECT i, md5(i::text) AS v FROM generate_series(1, {ROWS}) AS i")
    backup_path = f"{PROJECT}/services/travel/backups/copied"
    assert clients[first].post(f"{PROJECT}/services/travel/backups", json={"name": "copied"}).status_code == 202

    # The catalog shows who copies: the holder of the stanza's copy lease while the replica is Replicating.
    holder = wait_until(lambda: copy_in_progress(pair, "travel"), "the copy to local-west starts", timeout=180)
    assert holder is not False, "the copy ended before it could be interrupted"
    copier = pair.by_pid(holder)
    copier.kill()
    survivor = clients[pair.other(copier)]

    def copied() -> bool:
        return [r["state"] for r in survivor.get(backup_path).json()["replicas"]] == ["Succeeded"]

    wait_until(lambda: copied() or None, "the other control plane finishes the copy", timeout=180)
    copier.start()
    fork_from = {"service": "travel", "backup": "copied"}
    assert (
        survivor.post(f"{PROJECT}/services", json=fork_body("travel-west", "local-west", fork_from)).status_code == 201
    )
    forked = wait_for_state(survivor, f"{PROJECT}/services/travel-west", {"RUNNING"}, timeout=180)
    assert forked["restored_from"]["region"] == "local-west"
    assert sql(forked, "SELECT count(*), max(i) FROM t") == [(ROWS, ROWS)]


def create_service(client: httpx.Client, name: str, **extra: object) -> dict[str, Any]:
    body = {"name": name, "service_type": "pg", "cloud": "local-east", "plan": "hobbyist", **extra}
    response = client.post(f"{PROJECT}/services", json=body)
    assert response.status_code == 201, response.text
    return wait_for_state(client, f"{PROJECT}/services/{name}", {"RUNNING"})


def fork_body(name: str, cloud: str, fork_from: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "service_type": "pg", "cloud": cloud, "plan": "hobbyist", "fork_from": fork_from}


def sql(service: dict[str, Any], statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(str(service["uri"]), autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def finished(backup: dict[str, Any]) -> dict[str, Any] | None:
    return backup if backup["state"] in ("Succeeded", "Failed") else None


def kill_mid_command(
    pair: Pair, kind: str, service: str, verb: str, ready: Callable[[ControlPlane], bool] | None = None
) -> ControlPlane:
    """Once the catalog shows the `kind` job of `service` claimed and its control plane runs `pgbackrest <verb>`
    (and `ready` holds), kill that control plane with -9; check its pgBackRest dies with it. Returns it."""

    def running() -> tuple[ControlPlane, int] | None:
        pid = owner_pid(pair, kind, service, status="running")
        if pid is None:
            return None
        plane = pair.by_pid(pid)
        child = pgbackrest_child(pid, verb)
        return (plane, child) if child is not None and (ready is None or ready(plane)) else None

    plane, child = wait_until(running, f"a control plane runs pgbackrest {verb} for {service}", timeout=180)
    plane.kill()
    wait_until(lambda: not Path(f"/proc/{child}").exists() or None, f"pgbackrest {verb} dies with it", timeout=10)
    return plane


def owner_pid(pair: Pair, kind: str, service: str, *, status: str) -> int | None:
    """The pid of the control plane that holds (or held) the service's newest `kind` job in `status`."""
    with psycopg.connect(pair.catalog.dsn) as connection:
        row = connection.execute(
            "SELECT j.owner FROM jobs j JOIN services s ON s.id = j.service_id"
            " WHERE j.kind = %s AND j.status = %s AND s.project = 'acme' AND s.name = %s ORDER BY j.id DESC LIMIT 1",
            (kind, status, service),
        ).fetchone()
    # Owners are host:pid:random (controlplane/catalog/leases.py process_holder).
    return int(row[0].split(":")[1]) if row is not None else None


def copy_in_progress(pair: Pair, service: str) -> int | Literal[False] | None:
    """The pid of the control plane copying the service's backup now; False once copied, None before."""
    with psycopg.connect(pair.catalog.dsn) as connection:
        row = connection.execute(
            "SELECT r.state, l.holder FROM backup_replicas r JOIN backups b ON b.id = r.backup_id"
            " JOIN services s ON s.id = b.service_id"
            " LEFT JOIN leases l ON l.name = 'copy:acme-' || s.name || '-' || s.id AND l.expires_at > now()"
            " WHERE s.project = 'acme' AND s.name = %s",
            (service,),
        ).fetchone()
    if row is None:
        return None
    state, holder = row
    if state == "Succeeded":
        return False
    return int(holder.split(":")[1]) if state == "Replicating" and holder is not None else None


def pgbackrest_child(parent: int, verb: str) -> int | None:
    """The pid of a `pgbackrest … <verb>` process whose parent is `parent`, if one runs."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # it ended while we looked
        if ppid == parent and argv and argv[0].endswith(b"pgbackrest") and verb.encode() in argv:
            return int(entry.name)
    return None


def wait_until(found: Callable[[], T | None], what: str, *, timeout: float) -> T:
    """Poll `found` until it gives something other than None; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while (value := found()) is None:
        assert time.monotonic() < deadline, f"not seen within {timeout:g} s: {what}"
        time.sleep(0.05)
    return value
