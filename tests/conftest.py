"""Fixtures shared by every suite: the real control plane."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from controlplane.catalog import sealing
from tests.controlplane.cp_process import ControlPlane, remove_tree, stop_leftover_servers, unprivileged_reachable_dir


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
