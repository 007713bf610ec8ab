"""`service_type = "mysql"` end to end: real Terraform, the real provider and control plane, real MariaDB 10.11 servers
and mariabackup, the `mariadb` client.

One lifecycle: a service with a backup region and rows; a full and an incremental backup; a fork in the backup
region (local-west) at the latest transaction, applied right after a write (no waiting, no manual flush of the
binary logs); a fork at a point in time between two markers written in different seconds; a clean destroy that
leaves no server and nothing of the stanzas in the stores.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from controlplane.engine.mariadb import CONF_NAME
from tests.controlplane.cp_process import ControlPlane
from tests.e2e.test_dbaas_service import dbaas, write
from tests.mysql_client import rows
from tests.terraform_workspace import Workspace

__all__ = ["dbaas"]  # the fixture, imported to be used here

SERVICE = """
resource "dbaas_service" "db" {
  name         = "shop"
  service_type = "mysql"
  cloud        = "local-east"
  plan         = "hobbyist"
  user_config  = { additional_backup_regions = ["local-west"] }
}
"""

BACKUPS = """
resource "dbaas_backup" "full" {
  service = dbaas_service.db.name
  name    = "full"
}
resource "dbaas_backup" "incr" {
  service = dbaas_service.db.name
  name    = "incr"
  parent  = dbaas_backup.full.name
}
"""

LATEST_FORK = """
resource "dbaas_database_fork" "west" {
  name           = "shop-west"
  cloud          = "local-west"
  plan           = "hobbyist"
  source_service = dbaas_service.db.name
  depends_on     = [dbaas_backup.incr]
}
"""


def time_fork(target: str) -> str:
    return f"""
resource "dbaas_database_fork" "then" {{
  name                 = "shop-then"
  cloud                = "local-east"
  plan                 = "hobbyist"
  source_service       = dbaas_service.db.name
  recovery_target_time = "{target}"
  depends_on           = [dbaas_backup.incr]
}}
"""


def notes(uri: str) -> list[str]:
    return rows(uri, "SELECT body FROM notes ORDER BY id")


def write_note(uri: str, body: str) -> None:
    rows(uri, f"INSERT INTO notes (body) VALUES ('{body}')")


def test_mysql_lifecycle(dbaas: Workspace, control_plane: ControlPlane) -> None:
    write(dbaas, SERVICE)
    dbaas.apply()
    service = dbaas.resources()["dbaas_service.db"]
    assert (service["service_type"], service["version"], service["state"]) == ("mysql", "10.11", "RUNNING")
    uri = str(service["uri"])
    assert uri.startswith("mysql://dbaasadmin:") and uri.endswith("/defaultdb")
    rows(uri, "CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(64))")
    write_note(uri, "before-full")
    assert dbaas.plan_exit_code().returncode == 0, "plan after apply must be empty"

    write(dbaas, SERVICE + BACKUPS)
    dbaas.apply()
    found = dbaas.resources()
    assert (found["dbaas_backup.full"]["type"], found["dbaas_backup.incr"]["type"]) == ("full", "incremental")
    assert found["dbaas_backup.incr"]["parent"] == "full"
    assert str(found["dbaas_backup.full"]["backup_handle"]).startswith("mariabackup:")

    write_note(uri, "latest")  # after every backup: only the binary logs hold it
    write(dbaas, SERVICE + BACKUPS + LATEST_FORK)
    dbaas.apply()
    west = dbaas.resources()["dbaas_database_fork.west"]
    assert (west["service_type"], west["restored_from"]["region"]) == ("mysql", "local-west")
    assert notes(str(west["uri"])) == ["before-full", "latest"]

    write_note(uri, "marker-1")
    time.sleep(1.1)  # MariaDB stamps binary log events to the second: the target lies in a second of its own
    target = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    time.sleep(1.1)
    write_note(uri, "marker-2")
    write(dbaas, SERVICE + BACKUPS + LATEST_FORK + time_fork(target))
    dbaas.apply()
    then = dbaas.resources()["dbaas_database_fork.then"]
    assert notes(str(then["uri"])) == ["before-full", "latest", "marker-1"]
    assert dbaas.plan_exit_code().returncode == 0, "plan after apply must be empty"

    stanzas = {str(b["backup_handle"]).split("#", 1)[1].split("/", 1)[0] for b in _backups(dbaas)}
    dbaas.run("destroy", "-auto-approve")
    with control_plane.client(control_plane.create_token("acme")) as api:
        assert api.get("/v1/projects/acme/services").json()["services"] == []
    regions = control_plane.data_dir / "regions"
    assert list(regions.glob(f"*/services/acme/*/{CONF_NAME}")) == [], "no server home left"
    left = [path for stanza in stanzas for path in _stanza_objects(regions, stanza)]
    assert left == [], "nothing of the stanza in the stores"


def _backups(workspace: Workspace) -> list[dict[str, object]]:
    found = workspace.resources()
    return [found["dbaas_backup.full"], found["dbaas_backup.incr"]]


def _stanza_objects(regions: Path, stanza: str) -> list[Path]:
    return [path for path in regions.glob(f"*/objects/**/mysql/{stanza}") if path.exists()]


def test_the_regions_offer_mysql(dbaas: Workspace) -> None:
    write(dbaas, 'data "dbaas_regions" "all" {}\noutput "types" { value = data.dbaas_regions.all.regions }\n')
    dbaas.apply()
    regions = json.loads(dbaas.run("output", "-json", "types").stdout)
    assert all({"name": "mysql", "versions": ["10.11"]} in region["service_types"] for region in regions)
