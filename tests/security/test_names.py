"""Project names as a hostile tenant uses them: a real control plane process, real HTTP, the real CLI.

A project name becomes a directory under each region's services directory: `..` with a service named
`objects` would have put a data directory on the region's object store. Malformed names answer 422
naming `project` for every token alike, after authentication, and nothing appears on disk.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.controlplane.cp_process import ControlPlane
from tests.plugin_process import REPO

# Percent-encoded as a client that does not normalise the path sends them; the server decodes them.
MALFORMED = {"..": "%2E%2E", ".": "%2E", "A": "A", "x/y": "x%2Fy", "-a": "-a", "a" * 64: "a" * 64}
SERVICE = {"name": "objects", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}


@pytest.fixture(scope="module")
def admin(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    with control_plane.client(control_plane.admin_token) as client:
        yield client


def directories(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_dir()}


def test_services_in_a_malformed_project_are_refused_and_touch_no_disk(
    control_plane: ControlPlane, admin: httpx.Client
) -> None:
    before = directories(control_plane.data_dir)
    for name, encoded in MALFORMED.items():
        created = admin.post(f"/v1/projects/{encoded}/services", json=SERVICE)
        if "/" in name:
            # Decoded, x/y is two path segments: no route takes it, so no project is ever named so.
            assert created.status_code == 404, (name, created.text)
        else:
            assert created.status_code == 422, (name, created.text)
            assert created.json()["error"]["field"] == "project"
    assert directories(control_plane.data_dir) == before


def test_a_malformed_project_tells_a_tenant_nothing(
    control_plane: ControlPlane, admin: httpx.Client, acme: httpx.Client
) -> None:
    for name, encoded in MALFORMED.items():
        path = f"/v1/projects/{encoded}/backup_strategy"
        with control_plane.client(None) as anonymous:
            assert anonymous.get(path).status_code == (404 if "/" in name else 401), "authentication first"
        as_acme, as_admin = acme.get(path), admin.get(path)
        assert (as_acme.status_code, as_acme.json()) == (as_admin.status_code, as_admin.json())
    assert acme.get("/v1/projects/beta/services").status_code == 404, "a well-formed project of another"
    fork = dict(SERVICE, name="copy", fork_from={"project": "..", "service": "source"})
    refused = acme.post("/v1/projects/acme/services", json=fork)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "fork_from.project"


def test_token_create_refuses_a_malformed_project(control_plane: ControlPlane) -> None:
    for name in ("..", "A", "x/y", ""):
        command = ["token", "create", "--project", name, "--data-dir", str(control_plane.data_dir)]
        result = subprocess.run(
            [sys.executable, "-m", "controlplane.cli", *command],
            cwd=REPO,
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        assert result.returncode == 2, (name, result.stderr)
        assert f"argument --project: {name!r} is not a project name" in result.stderr
        assert result.stdout == "", "no token printed"


def test_a_link_planted_on_the_way_to_a_data_directory_is_not_followed(
    control_plane: ControlPlane, admin: httpx.Client, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (control_plane.data_dir / "regions" / "local-east" / "services" / "linked").symlink_to(elsewhere)
    created = admin.post("/v1/projects/linked/services", json=dict(SERVICE, name="planted"))
    assert created.status_code == 422 and created.json()["error"]["field"] == "name", created.text
    assert list(elsewhere.iterdir()) == []
    assert admin.get("/v1/projects/linked/services").json()["services"] == []
