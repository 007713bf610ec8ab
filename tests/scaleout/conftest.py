"""Two control planes (`dbaas-cp serve`) sharing a PostgreSQL catalog, the region stores and the sealing key,
each with its own data directory, as on two hosts that mount the same stores."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.controlplane.cp_process import ControlPlane, remove_tree, stop_leftover_servers, unprivileged_reachable_dir
from tests.e2e.conftest import plugin_dir, workspace
from tests.plugin_process import REPO
from tests.postgres_servers import PostgresServer, fresh_database

# Fixtures of the end-to-end suite, used here.
__all__ = ["plugin_dir", "workspace"]

REGIONS = ("local-east", "local-west")
# Short, so that work a killed control plane held resumes within seconds.
LEASE_SECONDS = 3


@dataclass
class Pair:
    """Two control planes on one catalog; `config` is the TOML both read."""

    root: Path
    config: Path
    catalog: PostgresServer
    planes: tuple[ControlPlane, ControlPlane]

    def store(self, region: str) -> Path:
        return self.root / region / "objects"

    def services_dir(self, region: str) -> Path:
        return self.root / region / "services"

    def by_pid(self, pid: int) -> ControlPlane:
        """The control plane whose process is `pid`."""
        found = [plane for plane in self.planes if plane.process is not None and plane.process.pid == pid]
        assert found, f"no control plane runs as pid {pid}"
        return found[0]

    def other(self, plane: ControlPlane) -> ControlPlane:
        return self.planes[1] if plane is self.planes[0] else self.planes[0]

    def create_token(self, project: str, cwd: Path) -> str:
        """`dbaas-cp token create --project P --config cfg.toml` run in `cwd`, as an operator runs it: no
        data directory, the catalog named by the configuration."""
        command = [sys.executable, "-m", "controlplane.cli", "token", "create", "--project", project]
        result = subprocess.run(
            [*command, "--config", str(self.config)],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


def write_config(root: Path, catalog_url: str, region_settings: dict[str, str]) -> Path:
    """The one TOML of every control plane of the pair: catalog, sealing key and regions are shared;
    `region_settings`: more TOML lines of a region's table, by region."""
    regions = "".join(
        f'[[regions]]\nname = "{name}"\nobject_store = "{root / name / "objects"}"\n'
        f'services_dir = "{root / name / "services"}"\n{region_settings.get(name, "")}'
        for name in REGIONS
    )
    config = root / "dbaas-cp.toml"
    config.write_text(
        f'catalog_url = "{catalog_url}"\nsealing_key_file = "{root / "sealing.key"}"\n'
        f"lease_seconds = {LEASE_SECONDS}\njob_workers = 2\nreplication_interval = 0.5\n{regions}"
    )
    return config


@pytest.fixture(scope="module")
def catalog(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """An empty database on the shared test server, the catalog of one module's control planes."""
    with fresh_database(postgres_server, "scaleout") as database:
        yield database


@pytest.fixture(scope="module")
def region_settings() -> dict[str, str]:
    """More settings of a region's table, by region (a module overrides this fixture to set some)."""
    return {}


@pytest.fixture(scope="module")
def pair(catalog: PostgresServer, region_settings: dict[str, str]) -> Iterator[Pair]:
    """Two control planes started together on the empty catalog (both migrate it at once)."""
    root = unprivileged_reachable_dir("dbaas-scaleout-")
    config = write_config(root, catalog.url, region_settings)
    planes = (ControlPlane(root / "a", config), ControlPlane(root / "b", config))
    for plane in planes:
        plane.data_dir.mkdir()
    try:
        start_together(planes)
        yield Pair(root, config, catalog, planes)
    finally:
        try:
            for plane in planes:
                plane.stop()
            stop_leftover_servers(planes[0].data_dir, config)
        finally:
            remove_tree(root)


def start_together(planes: tuple[ControlPlane, ...]) -> None:
    """Start every control plane at the same moment; raises the first failure."""
    failures: list[BaseException] = []

    def start(plane: ControlPlane) -> None:
        try:
            plane.start()
        except BaseException as exc:  # re-raised in the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(plane,)) for plane in planes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
