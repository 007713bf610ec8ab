"""The lifecycle on Swift regions as a user meets it: real Terraform, the real control plane, two real Swift
clusters (s3api, TLS) as the stores of regions swift-east and swift-west, PostgreSQL, pgBackRest and psql.

A service in swift-east backs up into its project's bucket there and copies to swift-west; a fork of the latest
transaction in swift-west restores from the copy there, one at a point in time in swift-east lands between two
commits; `terraform destroy` leaves no object of the service in either cluster. Users neither switch WAL nor
wait before they fork, so the test does neither.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.storage.stores import bucket_name, bucket_prefix
from tests.controlplane.cp_process import ControlPlane, stop_leftover_servers, unprivileged_reachable_dir
from tests.e2e.test_dbaas_service import write
from tests.e2e.test_recoverability import fork
from tests.terraform_workspace import Workspace, cli_config, terraform_env
from tools.swift_cluster import SwiftRegions, s3_client

PROJECT = "acme"

SERVICE_HCL = """
resource "dbaas_service" "db" {
  name         = "ledger"
  service_type = "pg"
  cloud        = "swift-east"
  plan         = "hobbyist"
  user_config  = { additional_backup_regions = ["swift-west"] }
}
resource "dbaas_backup" "base" {
  service = dbaas_service.db.name
  name    = "base"
}
"""


ADOPTED_HCL = """
resource "dbaas_backup" "adopted" {{
  service       = dbaas_service.db.name
  name          = "adopted"
  import_source = {{
    backup_handle = "{handle}"
    backup_plugin = "pgbackrest"
  }}
}}
"""


def wait_for(
    api: httpx.Client, path: str, done: Callable[[dict[str, Any]], Any], timeout: float = 300
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not done(found := api.get(path).json()):
        assert time.monotonic() < deadline, f"{path}: {found}"
        time.sleep(0.5)
    return found


@pytest.fixture(scope="module")
def swift_plane(swift_regions: SwiftRegions) -> Iterator[ControlPlane]:
    data_dir = unprivileged_reachable_dir("dbaas-swift-e2e-")
    config = data_dir / "dbaas.toml"
    config.write_text(swift_regions.toml())
    plane = ControlPlane(data_dir, config).start()
    yield plane
    plane.stop()
    stop_leftover_servers(data_dir, config)


@pytest.fixture
def workspace(tmp_path: Path, plugin_dir: Path, swift_plane: ControlPlane) -> Workspace:
    env = terraform_env(cli_config(tmp_path / "terraformrc", {"dbaas/dbaas": plugin_dir}))
    env.update(DBAAS_ENDPOINT=swift_plane.url, DBAAS_TOKEN=swift_plane.create_token(PROJECT), DBAAS_PROJECT=PROJECT)
    (tmp_path / "work").mkdir()
    return Workspace(tmp_path / "work", tmp_path / "store", env)


def psql(uri: str, sql: str) -> str:
    """What psql prints for `sql` (unaligned, tuples only), as a user checks a database by hand."""
    done = subprocess.run(
        ["psql", "--no-psqlrc", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", uri, "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def stored_keys(swift_regions: SwiftRegions, stanza_part: str) -> dict[str, list[str]]:
    """Every object key, per region, of the project's buckets that names the stanza part (the service)."""
    found: dict[str, list[str]] = {}
    for region in swift_regions.regions:
        s3 = s3_client(region)
        keys = []
        for bucket in s3.list_buckets().get("Buckets", []):
            if bucket["Name"].startswith(bucket_prefix(PROJECT)):
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
                    keys += [item["Key"] for item in page.get("Contents", []) if stanza_part in item["Key"]]
        found[region.name] = keys
    return found


def test_backups_forks_and_destroy_on_swift_regions(
    workspace: Workspace, swift_regions: SwiftRegions, swift_plane: ControlPlane
) -> None:
    write(workspace, SERVICE_HCL)
    workspace.apply()
    found = workspace.resources()
    uri = found["dbaas_service.db"]["uri"]
    base = found["dbaas_backup.base"]
    assert (base["state"], base["region"]) == ("Succeeded", "swift-east")
    bucket = bucket_name(PROJECT, "default")
    assert base["backup_handle"].startswith(f"pgbackrest:s3://swift-east/{bucket}#"), base["backup_handle"]

    psql(uri, "CREATE TABLE marks (label text PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
    psql(uri, "INSERT INTO marks (label) VALUES ('one')")
    target = datetime.fromisoformat(psql(uri, "SELECT to_json(clock_timestamp())#>>'{}'"))
    psql(uri, "INSERT INTO marks (label) VALUES ('two')")

    # At once: no WAL switch, no wait for the copy.
    workspace_hcl = (
        SERVICE_HCL
        + fork("west", "ledger-west", "swift-west")
        + fork("then", "ledger-then", "swift-east", f'recovery_target_time = "{target.astimezone(UTC).isoformat()}"')
    )
    write(workspace, workspace_hcl)
    workspace.apply()
    found = workspace.resources()
    west, then = found["dbaas_database_fork.west"], found["dbaas_database_fork.then"]
    assert (west["state"], west["restored_from"]["region"]) == ("RUNNING", "swift-west")
    assert psql(west["uri"], "SELECT string_agg(label, ',' ORDER BY label) FROM marks") == "one,two"
    assert psql(then["uri"], "SELECT string_agg(label, ',' ORDER BY label) FROM marks") == "one"

    stanza = base["backup_handle"].rsplit("#", 1)[1].split("/", 1)[0]
    assert all(stored_keys(swift_regions, f"/{stanza}/").values()), "the backup is in both regions' buckets"

    # The checks and an import by handle, on the bucket: verification, a restore test, adopting the backup.
    with swift_plane.client(workspace.env["DBAAS_TOKEN"]) as api:
        backups = f"/v1/projects/{PROJECT}/services/ledger/backups"
        assert api.post(f"{backups}/base/verify").status_code == 202
        assert api.post(f"{backups}/base/restore_test").status_code == 202
        checked = wait_for(
            api, f"{backups}/base", lambda b: b["verify_state"] and b["last_restore_test"]["state"] != "running"
        )
        assert (checked["verify_state"], checked["last_restore_test"]["state"]) == ("passed", "passed"), checked
    write(workspace, workspace_hcl + ADOPTED_HCL.format(handle=base["backup_handle"]))
    workspace.apply()
    adopted = workspace.resources()["dbaas_backup.adopted"]
    assert (adopted["state"], adopted["backup_handle"]) == ("Succeeded", base["backup_handle"])

    workspace.run("destroy", "-auto-approve", "-input=false")
    assert workspace.resources() == {}
    assert stored_keys(swift_regions, f"/{stanza}/") == {"swift-east": [], "swift-west": []}
