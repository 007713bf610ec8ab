"""dbaas_database_fork and the dbaas_backups data source: real Terraform, real control plane, real PostgreSQL
and pgBackRest."""

from __future__ import annotations

import json
import re

import psycopg

from tests.controlplane.cp_process import ControlPlane
from tests.e2e.test_dbaas_service import dbaas, service, write
from tests.terraform_workspace import Workspace

__all__ = ["dbaas"]  # the fixture, imported to be used here

BACKUP = """
resource "dbaas_backup" "base" {
  service = dbaas_service.db.name
  name    = "base"
  labels  = { kind = "before-fork" }
}
data "dbaas_backups" "shop" {
  service    = dbaas_service.db.name
  state      = "Succeeded"
  labels     = { kind = "before-fork" }
  depends_on = [dbaas_backup.base]
}
output "listed" {
  value = [for b in data.dbaas_backups.shop.backups : b.name]
}
"""

FORK = """
resource "dbaas_database_fork" "copy" {
  name           = "shop-copy"
  cloud          = "local-east"
  plan           = "hobbyist"
  source_service = dbaas_service.db.name
  backup         = dbaas_backup.base.id
}
output "fork_uri" {
  value     = dbaas_database_fork.copy.uri
  sensitive = true
}
"""


def test_fork_from_a_backup(dbaas: Workspace, control_plane: ControlPlane) -> None:
    write(dbaas, service(name="shop"))
    dbaas.apply()
    uri = json.loads(dbaas.run("output", "-json", "uri").stdout)
    with psycopg.connect(uri) as connection:
        connection.execute("CREATE TABLE t AS SELECT 'before the backup' AS v")

    write(dbaas, service(name="shop") + BACKUP + FORK)
    dbaas.apply()
    fork = dbaas.resources()["dbaas_database_fork.copy"]
    assert (fork["id"], fork["state"], fork["source_service"], fork["source_project"]) == (
        "acme/shop-copy",
        "RUNNING",
        "shop",
        "acme",
    )
    assert (fork["backup"], fork["recovery_target_time"]) == ("acme/shop/base", None)
    assert fork["restored_from"]["backup"] == "base" and fork["restored_from"]["region"] == "local-east"
    fork_uri = json.loads(dbaas.run("output", "-json", "fork_uri").stdout)
    assert fork_uri != uri
    with psycopg.connect(fork_uri) as connection:
        assert connection.execute("SELECT v FROM t").fetchall() == [("before the backup",)]
    assert json.loads(dbaas.run("output", "-json", "listed").stdout) == ["base"]
    assert dbaas.plan_exit_code().returncode == 0, "plan after apply must be empty"

    # In place: the plan changes without replacing the fork.
    write(dbaas, service(name="shop") + BACKUP + FORK.replace('"hobbyist"', '"startup-4"'))
    plan = dbaas.plan_exit_code()
    assert plan.returncode == 2 and "1 to change" in plan.stdout and "must be replaced" not in plan.stdout
    dbaas.apply()
    assert dbaas.resources()["dbaas_database_fork.copy"]["plan"] == "startup-4"
    assert dbaas.plan_exit_code().returncode == 0

    # Import with generated configuration plans no replacement.
    dbaas.run("state", "rm", "dbaas_database_fork.copy")
    write(
        dbaas,
        service(name="shop")
        + BACKUP
        + """
import {
  to = dbaas_database_fork.copy
  id = "acme/shop-copy"
}
""",
    )
    plan = dbaas.run("plan", "-generate-config-out=generated.tf")
    assert "1 to import" in plan.stdout and "0 to add, 0 to change, 0 to destroy" in plan.stdout
    generated = (dbaas.path / "generated.tf").read_text()
    assert re.search(r'source_service\s+= "shop"', generated) and re.search(r'backup\s+= "acme/shop/base"', generated)
    dbaas.apply()
    assert dbaas.plan_exit_code().returncode == 0, "an imported fork plans no changes"

    (dbaas.path / "generated.tf").unlink()
    write(dbaas, service(name="shop") + BACKUP)
    dbaas.apply()  # destroys the fork
    dbaas.run("destroy", "-auto-approve")
    with control_plane.client(control_plane.create_token("acme")) as api:
        assert api.get("/v1/projects/acme/services").json()["services"] == []


def test_fork_errors_point_at_attributes(dbaas: Workspace) -> None:
    write(
        dbaas,
        service(name="shop")
        + """
resource "dbaas_database_fork" "copy" {
  name                 = "shop-copy"
  cloud                = "local-east"
  plan                 = "hobbyist"
  source_service       = "shop"
  backup               = "acme/other/base"
  recovery_target_time = "yesterday"
}
""",
    )
    bad = dbaas.run("plan", check=False)
    assert bad.returncode == 1 and "Conflicting attributes" in bad.stderr and "RFC 3339" in bad.stderr
    write(
        dbaas,
        service(name="shop")
        + """
resource "dbaas_database_fork" "copy" {
  name           = "shop-copy"
  cloud          = "local-east"
  plan           = "hobbyist"
  source_service = "shop"
  backup         = "acme/other/base"
}
""",
    )
    bad = dbaas.run("plan", check=False)
    assert bad.returncode == 1 and "is not a backup of source_service 'shop'" in bad.stderr
