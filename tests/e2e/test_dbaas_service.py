"""dbaas_service and the dbaas_regions / dbaas_service data sources: real Terraform, real control plane,
real PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import psycopg
import pytest

from tests.controlplane.cp_process import ControlPlane, wait_for_gone
from tests.terraform_workspace import Workspace


@pytest.fixture
def dbaas(workspace: Workspace, control_plane: ControlPlane) -> Iterator[Workspace]:
    """A workspace whose dbaas provider talks to the control plane with a token of project acme."""
    workspace.env.update(
        DBAAS_ENDPOINT=control_plane.url, DBAAS_TOKEN=control_plane.create_token("acme"), DBAAS_PROJECT="acme"
    )
    yield workspace
    if (workspace.path / "terraform.tfstate").exists():
        workspace.run("destroy", "-auto-approve", check=False)


def write(workspace: Workspace, body: str) -> None:
    header = (
        'terraform {\n  required_providers {\n    dbaas = { source = "dbaas/dbaas" }\n  }\n}\nprovider "dbaas" {}\n'
    )
    (workspace.path / "main.tf").write_text(header + body)


def service(name: str = "orders", plan: str = "hobbyist", extra: str = "") -> str:
    return f'''
resource "dbaas_service" "db" {{
  name         = "{name}"
  service_type = "pg"
  cloud        = "local-east"
  plan         = "{plan}"
  {extra}
}}
output "uri" {{
  value     = dbaas_service.db.uri
  sensitive = true
}}
'''


def test_service_lifecycle(dbaas: Workspace, control_plane: ControlPlane) -> None:
    write(dbaas, service())
    dbaas.apply()
    created = dbaas.resources()["dbaas_service.db"]
    assert (created["id"], created["state"], created["project"]) == ("acme/orders", "RUNNING", "acme")
    uri = json.loads(dbaas.run("output", "-json", "uri").stdout)
    with psycopg.connect(uri) as connection:
        connection.execute("CREATE TABLE t AS SELECT 'kept' AS v")
    assert dbaas.plan_exit_code().returncode == 0, "plan after apply must be empty"

    write(dbaas, service(plan="startup-4"))
    plan = dbaas.plan_exit_code()
    assert plan.returncode == 2 and "1 to change" in plan.stdout and "must be replaced" not in plan.stdout
    dbaas.apply()
    assert dbaas.resources()["dbaas_service.db"]["plan"] == "startup-4"
    with psycopg.connect(uri) as connection:
        assert connection.execute("SELECT v FROM t").fetchall() == [("kept",)]
    assert dbaas.plan_exit_code().returncode == 0

    write(dbaas, service(name="orders-2", plan="startup-4"))
    plan = dbaas.plan_exit_code()
    assert "must be replaced" in plan.stdout
    dbaas.apply()
    assert dbaas.resources()["dbaas_service.db"]["id"] == "acme/orders-2"
    with control_plane.client(control_plane.create_token("acme")) as api:
        assert api.get("/v1/projects/acme/services/orders").status_code == 404

    dbaas.run("destroy", "-auto-approve")
    with control_plane.client(control_plane.create_token("acme")) as api:
        assert api.get("/v1/projects/acme/services").json()["services"] == []


def test_data_sources_and_import(dbaas: Workspace, control_plane: ControlPlane) -> None:
    with control_plane.client(control_plane.create_token("acme")) as api:
        api.post(
            "/v1/projects/acme/services",
            json={"name": "legacy", "service_type": "pg", "cloud": "local-west", "plan": "hobbyist"},
        ).raise_for_status()
    write(
        dbaas,
        """
data "dbaas_regions" "all" {}
data "dbaas_service" "legacy" {
  name = "legacy"
}
output "regions" {
  value = [for r in data.dbaas_regions.all.regions : r.name]
}
output "legacy_cloud" {
  value = data.dbaas_service.legacy.cloud
}
import {
  to = dbaas_service.legacy
  id = "acme/legacy"
}
""",
    )
    plan = dbaas.run("plan", "-generate-config-out=generated.tf")
    assert "1 to import" in plan.stdout
    generated = (dbaas.path / "generated.tf").read_text()
    assert re.search(r'name\s+= "legacy"', generated) and re.search(r'cloud\s+= "local-west"', generated)
    dbaas.apply()
    assert json.loads(dbaas.run("output", "-json", "regions").stdout) == ["local-east", "local-west"]
    assert json.loads(dbaas.run("output", "-json", "legacy_cloud").stdout) == "local-west"
    assert dbaas.plan_exit_code().returncode == 0, "an imported service plans no changes"


def test_errors_point_at_attributes(dbaas: Workspace) -> None:
    write(dbaas, service(name="Bad_Name"))
    bad = dbaas.run("plan", check=False)
    assert bad.returncode == 1 and "Invalid value for name" in bad.stderr and "main.tf line" in bad.stderr
    write(dbaas, service(extra="termination_protection = true").replace("local-east", "mars-north"))
    refused = dbaas.run("apply", "-auto-approve", check=False)
    assert refused.returncode == 1 and "unknown region 'mars-north'" in refused.stderr
    assert re.search(r'cloud\s+= "mars-north"', refused.stderr), "the error points at the cloud attribute"


def test_drift_removes_a_service_deleted_behind_terraform(dbaas: Workspace, control_plane: ControlPlane) -> None:
    write(dbaas, service(name="drifter"))
    dbaas.apply()
    with control_plane.client(control_plane.create_token("acme")) as api:
        assert api.delete("/v1/projects/acme/services/drifter").status_code == 202
        wait_for_gone(api, "/v1/projects/acme/services/drifter")
    plan = dbaas.plan_exit_code()
    assert plan.returncode == 2 and "1 to add" in plan.stdout
