"""dbaas_backup and dbaas_backup_strategy: real Terraform, real control plane, real PostgreSQL and pgBackRest."""

from __future__ import annotations

import re

from tests.controlplane.cp_process import ControlPlane
from tests.e2e.test_dbaas_service import dbaas, service, write
from tests.terraform_workspace import Workspace

__all__ = ["dbaas"]  # the fixture, imported to be used here


def backups(labels: str = '{ env = "test" }') -> str:
    return (
        service(name="shop")
        + f"""
resource "dbaas_backup_strategy" "project" {{
  container = "tf-box"
  retention = {{ full_count = 3 }}
}}
resource "dbaas_backup" "full" {{
  service    = dbaas_service.db.name
  name       = "base"
  labels     = {labels}
  depends_on = [dbaas_backup_strategy.project]
}}
resource "dbaas_backup" "incr" {{
  service     = dbaas_service.db.name
  incremental = true
  description = "after the base"
  depends_on  = [dbaas_backup.full]
}}
"""
    )


def test_backup_lifecycle(dbaas: Workspace, control_plane: ControlPlane) -> None:
    write(dbaas, backups())
    dbaas.apply()
    found = dbaas.resources()
    full, incr = found["dbaas_backup.full"], found["dbaas_backup.incr"]
    assert (full["id"], full["state"], full["type"], full["container"]) == (
        "acme/shop/base",
        "Succeeded",
        "full",
        "tf-box",
    )
    assert (full["description"], full["labels"], full["incremental"], full["parent"]) == (
        "",
        {"env": "test"},
        False,
        None,
    )
    assert (incr["state"], incr["type"], incr["container"], incr["parent"]) == (
        "Succeeded",
        "incremental",
        "tf-box",
        "base",
    )
    assert re.fullmatch(r"\d{14}", str(incr["name"])), "the control plane names an unnamed backup yyyyMMddHHmmss"
    assert incr["ready_to_use"] is True and str(incr["backup_handle"]).startswith("pgbackrest:")
    assert found["dbaas_backup_strategy.project"]["id"] == "acme"
    assert dbaas.plan_exit_code().returncode == 0, "plan after apply must be empty"

    write(dbaas, backups(labels='{ env = "prod", team = "db" }'))
    plan = dbaas.plan_exit_code()
    assert plan.returncode == 2 and "1 to change" in plan.stdout and "must be replaced" not in plan.stdout
    dbaas.apply()
    assert dbaas.resources()["dbaas_backup.full"]["labels"] == {"env": "prod", "team": "db"}
    with control_plane.client(control_plane.create_token("acme")) as api:
        assert api.get("/v1/projects/acme/services/shop/backups/base").json()["labels"] == {"env": "prod", "team": "db"}
    assert dbaas.plan_exit_code().returncode == 0

    # Import: forget the full backup, then import it back with generated configuration.
    dbaas.run("state", "rm", "dbaas_backup.full")
    write(
        dbaas,
        backups(labels='{ env = "prod", team = "db" }').split('resource "dbaas_backup" "full"')[0]
        + """
import {
  to = dbaas_backup.full
  id = "acme/shop/base"
}
resource "dbaas_backup" "incr" {
  service     = dbaas_service.db.name
  incremental = true
  description = "after the base"
}
""",
    )  # no depends_on: a generated resource cannot be referred to before its configuration exists
    plan = dbaas.run("plan", "-generate-config-out=generated.tf")
    assert "1 to import" in plan.stdout and "0 to add, 0 to change, 0 to destroy" in plan.stdout
    generated = (dbaas.path / "generated.tf").read_text()
    assert re.search(r'name\s+= "base"', generated) and re.search(r'container\s+= "tf-box"', generated)
    dbaas.apply()
    assert dbaas.plan_exit_code().returncode == 0, "an imported backup plans no changes"
    main = (dbaas.path / "main.tf").read_text()
    (dbaas.path / "main.tf").write_text(
        main.replace(
            'description = "after the base"\n', 'description = "after the base"\n  depends_on  = [dbaas_backup.full]\n'
        )
    )
    dbaas.apply()  # records the dependency again: destroy deletes the incremental before its parent
    assert dbaas.plan_exit_code().returncode == 0

    # Destroy: the incremental goes first (it depends on the full), then the full backup, although it is the
    # only full backup of container tf-box (the control plane expires its data when it can), then the rest.
    dbaas.run("destroy", "-auto-approve")
    with control_plane.client(control_plane.create_token("acme")) as api:
        assert api.get("/v1/projects/acme/services/shop/backups").json()["backups"] == []
        assert api.get("/v1/projects/acme/backup_strategy").status_code == 404


def test_strategy_of_a_service_and_import(dbaas: Workspace, control_plane: ControlPlane) -> None:
    write(
        dbaas,
        service(name="billing")
        + """
resource "dbaas_backup_strategy" "billing" {
  service   = dbaas_service.db.name
  container = "billing-box"
  schedule  = "0 3 * * *"
}
""",
    )
    dbaas.apply()
    strategy = dbaas.resources()["dbaas_backup_strategy.billing"]
    assert (strategy["id"], strategy["retention"], strategy["schedule"]) == ("acme/billing", None, "0 3 * * *")
    assert dbaas.plan_exit_code().returncode == 0
    dbaas.run("state", "rm", "dbaas_backup_strategy.billing")
    dbaas.run("import", "dbaas_backup_strategy.billing", "acme/billing")
    assert dbaas.plan_exit_code().returncode == 0, "an imported strategy plans no changes"
    dbaas.run("destroy", "-auto-approve")
    with control_plane.client(control_plane.create_token("acme")) as api:
        assert api.get("/v1/projects/acme/services/billing/backup_strategy").status_code == 404
