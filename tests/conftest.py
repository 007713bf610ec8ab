"""Fixtures shared by every suite: the real control plane."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from controlplane.catalog import sealing
from tests.controlplane.cp_process import ControlPlane, remove_tree, stop_leftover_servers, unprivileged_reachable_dir
from tests.postgres_servers import postgres_base_dir, postgres_bin, postgres_database, postgres_factory, postgres_server

# The PostgreSQL servers' fixtures, registered here so that every suite shares one session's servers.
__all__ = ["postgres_base_dir", "postgres_bin", "postgres_database", "postgres_factory", "postgres_server"]

if TYPE_CHECKING:
    from tools.swift_cluster import SwiftRegions


@pytest.fixture(scope="module")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """The real control plane, one per test module, in a directory of its own; every server it
    started is stopped afterwards (services outlive the control plane by design)."""
    data_dir = unprivileged_reachable_dir(f"dbaas-cp-{request.module.__name__.rsplit('.', 1)[-1]}-")
    plane = ControlPlane(data_dir).start()
    yield plane
    plane.stop()
    stop_leftover_servers(data_dir)
    remove_tree(data_dir)


@pytest.fixture(scope="module")
def acme(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    """A client of the module's control plane with a token of project acme."""
    with control_plane.client(control_plane.create_token("acme")) as client:
        yield client


@pytest.fixture(scope="session", autouse=True)
def sealing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The key that seals catalog secrets, for the catalogs tests open in this process."""
    path = tmp_path_factory.mktemp("sealing") / "sealing.key"
    sealing.load_key(path)
    return path


@pytest.fixture(scope="session")
def swift_regions() -> Iterator[SwiftRegions]:
    """Two independent Swift clusters on loopback, regions `swift-east` and `swift-west` (tools/swift_cluster.py):
    started on first use (about 5 s) in a fresh directory the postgres account can reach, stopped at the end.
    `swift_regions["swift-east"]` has `endpoint`, `region`, `ca_file`, `credentials_file`; `.toml()` gives the
    `[[regions]]` entries of a control-plane configuration."""
    # Imported here: boto3 is slow to import and most sessions never start Swift.
    from tools import swift_cluster

    base = Path(tempfile.mkdtemp(prefix="dbaas-swift-"))
    try:
        yield swift_cluster.up(base)
    finally:
        swift_cluster.down(base)
        shutil.rmtree(base, ignore_errors=True)
