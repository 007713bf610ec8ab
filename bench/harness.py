"""The control plane as the benchmarks run it: `dbaas-cp serve` (the embedded default, regions local-east
and local-west) in a scratch directory, a token of project `bench`, and services made through its API."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.by_hand import BIN
from tests.controlplane.cp_process import (
    ControlPlane,
    remove_tree,
    stop_leftover_servers,
    unprivileged_reachable_dir,
    wait_for_state,
)
from tests.controlplane.test_backups import wait_for_backup

PROJECT = "bench"
SERVICES = f"/v1/projects/{PROJECT}/services"


@dataclass(frozen=True)
class Bench:
    plane: ControlPlane
    token: str
    client: httpx.Client  # with the token
    scratch: Path  # for the benchmark's own files; the database user can traverse it


@contextmanager
def running_control_plane(prefix: str, config: str = "") -> Iterator[Bench]:
    """A control plane in a fresh scratch directory named `prefix…`, with the TOML settings `config`.

    Afterwards the control plane and the PostgreSQL servers of its services (which outlive it by
    design) are stopped and the scratch directory is removed.
    """
    scratch = unprivileged_reachable_dir(prefix)
    (scratch / "cp").mkdir()
    config_file = scratch / "dbaas-cp.toml" if config else None
    if config_file is not None:
        config_file.write_text(config)
    plane = ControlPlane(scratch / "cp", config_file)
    try:
        plane.start()
        token = plane.create_token(PROJECT)
        with plane.client(token) as client:
            yield Bench(plane=plane, token=token, client=client, scratch=scratch)
    finally:
        plane.stop()
        stop_leftover_servers(plane.data_dir, config_file)
        remove_tree(scratch)


def create_service(client: httpx.Client, name: str, *, timeout: float = 120, **fields: Any) -> dict[str, Any]:
    """POST a service (`fields` over a pg service on startup-4 in local-east) and wait until it is RUNNING."""
    body = {"name": name, "service_type": "pg", "cloud": "local-east", "plan": "startup-4", **fields}
    client.post(SERVICES, json=body).raise_for_status()
    return wait_for_state(client, f"{SERVICES}/{name}", {"RUNNING"}, timeout=timeout)


def full_backup(client: httpx.Client, service: str, name: str, timeout: float = 3600) -> dict[str, Any]:
    """Ask for a full backup named `name` and wait until it has Succeeded."""
    path = f"{SERVICES}/{service}/backups/{name}"
    client.put(path, json={}).raise_for_status()
    return wait_for_backup(client, path, timeout=timeout)


def wait_for_copy(client: httpx.Client, service: str, backup: str, region: str, timeout: float = 600) -> None:
    """Wait until the copy of a backup in `region` has Succeeded; exit if it failed."""
    deadline = time.monotonic() + timeout
    while True:
        replicas = client.get(f"{SERVICES}/{service}/backups/{backup}").json()["replicas"]
        found = next((r for r in replicas if r["region"] == region), None)
        if found is not None and found["state"] == "Succeeded":
            return
        if found is not None and found["state"] == "Failed":
            raise SystemExit(f"the copy of {backup} to {region} failed: {found['state_message']}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the copy of {backup} to {region} did not finish within {timeout:.0f} s")
        time.sleep(0.05)  # fine-grained: bench/replication.py times the copy with this


def pgbench_init(uri: str, scale: int) -> None:
    """pgbench's tables at `scale` (about 15 MB per unit)."""
    subprocess.run([BIN / "pgbench", "-i", "-q", "-s", str(scale), uri], check=True, capture_output=True)
