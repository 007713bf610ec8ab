"""The lifecycle with the real terraform binary across two control planes on one catalog: made through one,
changed and destroyed through the other, nothing left behind in the shared stores and services directories."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from tests.e2e.test_dbaas_service import write
from tests.scaleout.conftest import REGIONS, Pair
from tests.terraform_workspace import TERRAFORM, Workspace

SERVICE = """
resource "dbaas_service" "db" {
  name         = "shop"
  service_type = "pg"
  cloud        = "local-east"
  plan         = "hobbyist"
  user_config  = { additional_backup_regions = ["local-west"] }
}
output "uri" {
  value     = dbaas_service.db.uri
  sensitive = true
}
"""

BACKUP_AND_FORK = """
resource "dbaas_backup" "base" {
  service = dbaas_service.db.name
  name    = "base"
}
resource "dbaas_database_fork" "copy" {
  name           = "shop-copy"
  cloud          = "local-west"
  plan           = "%s"
  source_service = dbaas_service.db.name
  backup         = dbaas_backup.base.id
}
output "fork_uri" {
  value     = dbaas_database_fork.copy.uri
  sensitive = true
}
"""


def test_made_through_one_control_plane_changed_and_destroyed_through_the_other(
    pair: Pair, workspace: Workspace, tmp_path: Path
) -> None:
    assert TERRAFORM is not None, "terraform (>= 1.11) must be on PATH"
    first, second = pair.planes
    workspace.env.update(DBAAS_TOKEN=pair.create_token("tf", tmp_path), DBAAS_PROJECT="tf")

    workspace.env["DBAAS_ENDPOINT"] = first.url
    write(workspace, SERVICE)
    workspace.apply()
    uri = json.loads(workspace.run("output", "-json", "uri").stdout)
    with psycopg.connect(uri) as connection:
        connection.execute("CREATE TABLE t AS SELECT 'before the backup' AS v")
    write(workspace, SERVICE + BACKUP_AND_FORK % "hobbyist")
    workspace.apply()
    fork = workspace.resources()["dbaas_database_fork.copy"]
    restored_from = fork["restored_from"]
    assert fork["state"] == "RUNNING" and isinstance(restored_from, dict)
    assert (restored_from["backup"], restored_from["region"]) == ("base", "local-west"), "from the region's copy"

    workspace.env["DBAAS_ENDPOINT"] = second.url
    assert workspace.plan_exit_code().returncode == 0, "the other control plane reads the same state"
    write(workspace, SERVICE + BACKUP_AND_FORK % "startup-4")
    plan = workspace.plan_exit_code()
    assert plan.returncode == 2 and "1 to change" in plan.stdout, plan.stdout
    workspace.apply()
    assert workspace.resources()["dbaas_database_fork.copy"]["plan"] == "startup-4"
    fork_uri = json.loads(workspace.run("output", "-json", "fork_uri").stdout)
    with psycopg.connect(fork_uri) as connection:
        assert connection.execute("SELECT v FROM t").fetchall() == [("before the backup",)]

    made = {region: leftovers(pair, region) for region in REGIONS}
    assert all(made.values()), f"each region holds a service and a stanza (or its copy): {made}"
    workspace.run("destroy", "-auto-approve")
    assert {region: leftovers(pair, region) for region in REGIONS} == {region: [] for region in REGIONS}


def leftovers(pair: Pair, region: str) -> list[Path]:
    """The service directories of project tf in `region`, and its stanzas in the region's store."""
    store = pair.store(region)
    return [*pair.services_dir(region).glob("tf/*"), *store.glob("*/backup/tf-*"), *store.glob("*/archive/tf-*")]
