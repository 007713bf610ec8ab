"""Recoverability as a user meets it (docs/design.md): real Terraform, the real control plane, PostgreSQL and
pgBackRest, rows written and read with psycopg through the services' `uri`.

- A fork of the latest transaction holds every transaction committed before it was asked for, in the
  primary region and in a backup region.
- A point in time a few seconds old lands exactly: what was committed before it, nothing after.
- A point in time in the future is refused at apply, pointing at `recovery_target_time`.
- `terraform destroy` of backups, the only full backup of each container included, needs no state surgery
  and leaves no backup in the API and no PostgreSQL server running.

Users neither switch WAL nor wait before they fork, so these tests do neither. One source service is shared
by the module's tests (it is slow to make); each test removes what it added, and the last destroys it all.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.controlplane.cp_process import ControlPlane
from tests.e2e.test_dbaas_service import service, write
from tests.terraform_workspace import TerraformResult, Workspace, cli_config, terraform_env

PROJECT = "acme"
REGIONS = ("local-east", "local-west")

SERVICE_HCL = service(name="ledger", extra='user_config = { additional_backup_regions = ["local-west"] }')
SOURCE_HCL = (
    SERVICE_HCL
    + """
resource "dbaas_backup" "base" {
  service = dbaas_service.db.name
  name    = "base"
}
"""
)

# Each backup is the only full backup of its container: `default` (base, taken before the strategy exists),
# the service strategy's `ledger-box` (with an incremental on it) and `vault-box`, named by the backup.
SEVERAL_CONTAINERS_HCL = """
resource "dbaas_backup_strategy" "ledger" {
  service    = dbaas_service.db.name
  container  = "ledger-box"
  depends_on = [dbaas_backup.base]
}
resource "dbaas_backup" "by_strategy" {
  service    = dbaas_service.db.name
  name       = "by-strategy"
  depends_on = [dbaas_backup_strategy.ledger]
}
resource "dbaas_backup" "on_top" {
  service = dbaas_service.db.name
  name    = "on-top"
  parent  = dbaas_backup.by_strategy.name
}
resource "dbaas_backup" "elsewhere" {
  service   = dbaas_service.db.name
  name      = "elsewhere"
  container = "vault-box"
}
"""


def fork(resource: str, name: str, cloud: str = "local-east", argument: str = "") -> str:
    """A fork of the shared source; no `backup` nor `recovery_target_time` is the latest transaction."""
    return f'''
resource "dbaas_database_fork" "{resource}" {{
  name           = "{name}"
  cloud          = "{cloud}"
  plan           = "hobbyist"
  source_service = dbaas_service.db.name
  {argument}
  depends_on     = [dbaas_backup.base]
}}
'''


@dataclass
class Ledger:
    """The module's Terraform working directory, holding the source service `ledger` and its backup."""

    workspace: Workspace
    control_plane: ControlPlane
    token: str

    def apply(self, extra: str = "", base: str = SOURCE_HCL) -> TerraformResult:
        """Apply the source with `extra`: whatever an earlier test added and `extra` lacks is destroyed."""
        write(self.workspace, base + extra)
        return self.workspace.run("apply", "-auto-approve", "-input=false", check=False)

    def resources(self) -> dict[str, dict[str, Any]]:
        return self.workspace.resources()

    def source_uri(self) -> str:
        """The source's `uri`; the source is made first when an earlier test destroyed it: the service, its
        table `marks`, then its full backup (which holds the table)."""
        found = self.resources()
        if "dbaas_backup.base" not in found:
            applied = self.apply(base=SERVICE_HCL)
            assert applied.returncode == 0, applied.stderr
            with psycopg.connect(self.resources()["dbaas_service.db"]["uri"], autocommit=True) as connection:
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS marks "
                    "(label text PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp())"
                )
            applied = self.apply()
            assert applied.returncode == 0, applied.stderr
            found = self.resources()
        return str(found["dbaas_service.db"]["uri"])

    def api(self) -> httpx.Client:
        return self.control_plane.client(self.token)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory, plugin_dir: Path, control_plane: ControlPlane) -> Iterator[Ledger]:
    root = tmp_path_factory.mktemp("recoverability")
    (root / "work").mkdir()
    env = terraform_env(cli_config(root / "terraformrc", {"dbaas/dbaas": plugin_dir}))
    token = control_plane.create_token(PROJECT)
    env.update(DBAAS_ENDPOINT=control_plane.url, DBAAS_TOKEN=token, DBAAS_PROJECT=PROJECT)
    ledger = Ledger(Workspace(root / "work", root / "store", env), control_plane, token)
    yield ledger
    if ledger.resources():  # a test failed before it cleaned up: users destroy everything
        ledger.workspace.run("destroy", "-auto-approve", "-input=false", check=False)


def insert(connection: psycopg.Connection[Any], label: str) -> datetime:
    """Commit a row in its own transaction (the connection autocommits); the time it was written, which is
    just before its commit."""
    row = connection.execute("INSERT INTO marks (label) VALUES (%s) RETURNING written_at", (label,)).fetchone()
    assert row is not None and isinstance(row[0], datetime)
    return row[0]


def labels(connection: psycopg.Connection[Any]) -> list[str]:
    return [label for (label,) in connection.execute("SELECT label FROM marks ORDER BY label")]


def labels_at(uri: str) -> list[str]:
    with psycopg.connect(uri) as connection:
        return labels(connection)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def recovery_time(fork: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(fork["restored_from"]["recovery_time"])


def test_a_target_in_the_future_is_refused_naming_recovery_target_time(ledger: Ledger) -> None:
    ledger.source_uri()
    later = rfc3339(datetime.now(UTC) + timedelta(hours=1))
    refused = ledger.apply(fork("later", "ledger-later", argument=f'recovery_target_time = "{later}"'))
    assert refused.returncode == 1, refused.stdout
    # The diagnostic points at the attribute: Terraform prints its line of the configuration.
    assert re.search(rf'recovery_target_time\s+= "{re.escape(later)}"', refused.stderr), refused.stderr
    assert "dbaas_database_fork.later" not in ledger.resources()
    with ledger.api() as api:
        assert api.get(f"/v1/projects/{PROJECT}/services/ledger-later").status_code == 404


def test_a_fork_of_the_latest_transaction_holds_the_commit_made_just_before(ledger: Ledger) -> None:
    uri = ledger.source_uri()
    with psycopg.connect(uri, autocommit=True) as connection:
        written = insert(connection, "just before the forks")
        committed = labels(connection)
    # At once: no WAL switch, no wait.
    applied = ledger.apply(fork("east", "ledger-east") + fork("west", "ledger-west", cloud="local-west"))
    assert applied.returncode == 0, applied.stderr

    found = ledger.resources()
    forks = {name: found[f"dbaas_database_fork.{name}"] for name in ("east", "west")}
    assert {name: (f["state"], f["restored_from"]["region"]) for name, f in forks.items()} == {
        "east": ("RUNNING", "local-east"),
        "west": ("RUNNING", "local-west"),
    }
    held = {name: labels_at(f["uri"]) for name, f in forks.items()}
    assert held == {"east": committed, "west": committed}, "a latest-transaction fork holds every commit before it"
    for name, f in forks.items():
        assert recovery_time(f) >= written, f"{name}: {f['restored_from']} is before the row's commit ({written})"

    cleaned = ledger.apply()  # the forks leave the configuration
    assert cleaned.returncode == 0, cleaned.stderr


def test_a_point_in_time_seconds_old_lands_exactly(ledger: Ledger) -> None:
    uri = ledger.source_uri()
    with psycopg.connect(uri, autocommit=True) as connection:
        before = insert(connection, "before the target")
        committed = labels(connection)
        [(target,)] = connection.execute("SELECT clock_timestamp()").fetchall()
        insert(connection, "after the target")
    # At once: the target is a few seconds old when the fork restores.
    applied = ledger.apply(fork("then", "ledger-then", argument=f'recovery_target_time = "{rfc3339(target)}"'))
    assert applied.returncode == 0, applied.stderr

    then = ledger.resources()["dbaas_database_fork.then"]
    assert (then["state"], then["restored_from"]["backup"], then["restored_from"]["region"]) == (
        "RUNNING",
        None,
        "local-east",
    )
    assert labels_at(then["uri"]) == committed, "the fork holds what was committed before the target, nothing after"
    assert before <= recovery_time(then) <= target, (
        f"{then['restored_from']} is not the last commit before the target {target} (a row written at {before})"
    )

    cleaned = ledger.apply()  # the fork leaves the configuration
    assert cleaned.returncode == 0, cleaned.stderr


def servers_of_project(control_plane: ControlPlane) -> list[str]:
    """Processes running from a service's data directory of the project (`pgrep -af`): a PostgreSQL server is
    started as `postgres -D <data dir>`."""
    found: list[str] = []
    for region in REGIONS:
        services = control_plane.data_dir / "regions" / region / "services" / PROJECT
        listed = subprocess.run(["pgrep", "-af", f"{services}/"], capture_output=True, text=True, check=False)
        found += listed.stdout.splitlines()
    return found


def test_destroy_deletes_the_only_full_backup_of_each_container(ledger: Ledger) -> None:
    ledger.source_uri()
    applied = ledger.apply(
        SEVERAL_CONTAINERS_HCL + fork("copy", "ledger-copy", argument="backup = dbaas_backup.elsewhere.id")
    )
    assert applied.returncode == 0, applied.stderr
    found = ledger.resources()
    taken = {
        b["name"]: (b["container"], b["type"], b["state"]) for a, b in found.items() if a.startswith("dbaas_backup.")
    }
    assert taken == {
        "base": ("default", "full", "Succeeded"),
        "by-strategy": ("ledger-box", "full", "Succeeded"),
        "on-top": ("ledger-box", "incremental", "Succeeded"),
        "elsewhere": ("vault-box", "full", "Succeeded"),
    }
    assert found["dbaas_database_fork.copy"]["state"] == "RUNNING"
    assert servers_of_project(ledger.control_plane), "pgrep sees the servers while they run"

    destroyed = ledger.workspace.run("destroy", "-auto-approve", "-input=false", check=False)
    assert destroyed.returncode == 0, destroyed.stderr
    assert ledger.resources() == {}
    with ledger.api() as api:
        backups = f"/v1/projects/{PROJECT}/services/ledger/backups"
        assert {name: api.get(f"{backups}/{name}").status_code for name in taken} == dict.fromkeys(taken, 404)
        assert api.get(backups).json()["backups"] == []
        assert api.get(f"/v1/projects/{PROJECT}/services/ledger/backup_strategy").status_code == 404
        assert api.get(f"/v1/projects/{PROJECT}/services").json()["services"] == []
    assert servers_of_project(ledger.control_plane) == [], "no PostgreSQL server of a destroyed service is left"
    left = sorted(path.name for path in ledger.control_plane.data_dir.glob(f"regions/*/services/{PROJECT}/*"))
    assert left == [], "no data directory of a destroyed service is left"
