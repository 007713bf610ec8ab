"""`terraform plan -generate-config-out` for every kind of object (a service, a strategy, a full backup, two
incrementals, a fork): the configuration it writes validates and plans no change. Real Terraform, real control
plane, real PostgreSQL and pgBackRest."""

from __future__ import annotations

import re

from tests.e2e.test_dbaas_service import dbaas, service, write
from tests.terraform_workspace import Workspace

__all__ = ["dbaas"]  # the fixture, imported to be used here

OBJECTS = {
    "dbaas_service.db": "acme/gen",
    "dbaas_backup_strategy.gen": "acme/gen",
    "dbaas_backup.full": "acme/gen/base",
    "dbaas_backup.incr": "acme/gen/next",
    "dbaas_backup.on_parent": "acme/gen/third",
    "dbaas_database_fork.copy": "acme/gen-copy",
}


def objects() -> str:
    return (
        service(name="gen")
        + """
resource "dbaas_backup_strategy" "gen" {
  service   = dbaas_service.db.name
  container = "gen-box"
  schedule  = "0 3 * * *"
  retention = { days = 7 }
}
resource "dbaas_backup" "full" {
  service    = dbaas_service.db.name
  name       = "base"
  labels     = { env = "test" }
  depends_on = [dbaas_backup_strategy.gen]
}
resource "dbaas_backup" "incr" {
  service     = dbaas_service.db.name
  name        = "next"
  incremental = true
  depends_on  = [dbaas_backup.full]
}
resource "dbaas_backup" "on_parent" {
  service = dbaas_service.db.name
  name    = "third"
  parent  = dbaas_backup.incr.name
}
resource "dbaas_database_fork" "copy" {
  name           = "gen-copy"
  cloud          = "local-east"
  plan           = "hobbyist"
  source_service = dbaas_service.db.name
  backup         = dbaas_backup.full.id
}
"""
    )


def test_generated_configuration_plans_no_change(dbaas: Workspace) -> None:
    write(dbaas, objects())
    dbaas.apply()
    for address in OBJECTS:
        dbaas.run("state", "rm", address)

    write(dbaas, "".join(f'import {{\n  to = {to}\n  id = "{id}"\n}}\n' for to, id in OBJECTS.items()))
    plan = dbaas.run("plan", "-generate-config-out=generated.tf")
    assert "6 to import, 0 to add, 0 to change, 0 to destroy" in plan.stdout, plan.stdout
    generated = (dbaas.path / "generated.tf").read_text()
    incremental = generated.split('resource "dbaas_backup" "incr"')[1].split("\n}")[0]
    # Both `parent` and `incremental = true` would conflict: an imported incremental names its parent only.
    assert re.search(r'parent\s+= "base"', incremental) and re.search(r"incremental\s+= null", incremental), incremental
    assert dbaas.run("validate").returncode == 0
    dbaas.apply()
    assert dbaas.plan_exit_code().returncode == 0, "the generated configuration plans no change"
