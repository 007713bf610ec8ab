"""Two Terraform configurations of one project never take each other's objects: real Terraform, the real
control plane.

Two teams, two working directories, one project: both declare the project's `dbaas_backup_strategy`. The
second apply must fail saying the strategy already exists and how to import it, leave the first team's
strategy as it was, and destroying the second configuration must not delete it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controlplane.cp_process import ControlPlane
from tests.e2e.test_dbaas_service import write
from tests.terraform_workspace import Workspace, cli_config, terraform_env

PROJECT = "acme"


def strategy(container: str) -> str:
    return f'resource "dbaas_backup_strategy" "project" {{\n  container = "{container}"\n}}\n'


@pytest.fixture
def teams(tmp_path: Path, plugin_dir: Path, control_plane: ControlPlane) -> Iterator[tuple[Workspace, Workspace]]:
    """Two working directories of project acme, each with its own state; both destroyed afterwards."""
    config = cli_config(tmp_path / "terraformrc", {"dbaas/dbaas": plugin_dir})
    token = control_plane.create_token(PROJECT)
    workspaces = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        workspace = Workspace(tmp_path / name, tmp_path / name, terraform_env(config))
        workspace.env.update(DBAAS_ENDPOINT=control_plane.url, DBAAS_TOKEN=token, DBAAS_PROJECT=PROJECT)
        workspaces.append(workspace)
    yield workspaces[0], workspaces[1]
    for workspace in reversed(workspaces):
        if (workspace.path / "terraform.tfstate").exists():
            workspace.run("destroy", "-auto-approve", check=False)


def project_strategy(control_plane: ControlPlane) -> dict[str, object] | None:
    with control_plane.client(control_plane.create_token(PROJECT)) as api:
        answer = api.get(f"/v1/projects/{PROJECT}/backup_strategy")
    return None if answer.status_code == 404 else dict(answer.raise_for_status().json())


def test_a_second_configuration_never_takes_over_the_project_strategy(
    teams: tuple[Workspace, Workspace], control_plane: ControlPlane
) -> None:
    first, second = teams
    write(first, strategy("first-box"))
    first.apply()

    write(second, strategy("second-box"))
    refused = second.run("apply", "-auto-approve", "-input=false", check=False)
    assert refused.returncode == 1
    message = " ".join(refused.stderr.split())  # Terraform wraps long diagnostics
    assert "already exists" in message, refused.stderr
    assert "import it with `terraform import dbaas_backup_strategy.<name> acme`" in message, refused.stderr
    assert second.resources() == {}, "a refused create leaves nothing in state"
    found = project_strategy(control_plane)
    assert found is not None and found["container"] == "first-box"

    second.run("destroy", "-auto-approve")
    found = project_strategy(control_plane)
    assert found is not None and found["container"] == "first-box", "destroying the second kept the first's"
    assert first.plan_exit_code().returncode == 0, "the first configuration sees no change"

    first.run("destroy", "-auto-approve")
    assert project_strategy(control_plane) is None
