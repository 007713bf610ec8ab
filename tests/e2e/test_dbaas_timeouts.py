"""Create timeouts, drift and attribute-naming validation errors of the dbaas resources: real Terraform, real
control plane, real PostgreSQL and pgBackRest.

Every test works in a project of its own, so that what the control plane holds can be compared with what
Terraform knows, whatever the other tests of the module leave behind.
"""

from __future__ import annotations

import httpx

from tests.controlplane.cp_process import ControlPlane, wait_for_gone
from tests.e2e.test_dbaas_service import dbaas, service, write
from tests.terraform_workspace import TerraformResult, Workspace

__all__ = ["dbaas"]  # the fixture, imported to be used here

TOO_SHORT = "100ms"  # every wait below takes seconds: a create with this timeout always times out
SANE = "5m"


def use_project(workspace: Workspace, control_plane: ControlPlane, project: str) -> httpx.Client:
    """Point the workspace's provider at `project`; an API client of that project."""
    token = control_plane.create_token(project)
    workspace.env.update(DBAAS_TOKEN=token, DBAAS_PROJECT=project)
    return control_plane.client(token)


def timeouts(create: str) -> str:
    return f'timeouts {{\n    create = "{create}"\n  }}'


def line_of(workspace: Workspace, text: str) -> int:
    """The 1-based line of main.tf that holds `text` (its first occurrence)."""
    lines = (workspace.path / "main.tf").read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def apply_failing(workspace: Workspace) -> TerraformResult:
    result = workspace.run("apply", "-auto-approve", "-input=false", check=False)
    assert result.returncode == 1, f"apply was expected to fail:\n{result.stdout}\n{result.stderr}"
    return result


def assert_kept_tainted(workspace: Workspace, address: str) -> dict[str, object]:
    """`address` is in state, tainted (a create that failed with state); its values."""
    assert address in workspace.run("state", "list").stdout.split()
    assert f"# {address}: (tainted)" in workspace.run("state", "show", address).stdout
    return workspace.resources()[address]


def assert_timed_out(
    result: TerraformResult, workspace: Workspace, summary: str, waited_for: str, resource: str
) -> None:
    """The timeout diagnostic: what timed out, on what, and where in the configuration."""
    text = " ".join(result.stderr.split())  # Terraform wraps the detail
    assert f"Error: Timed out: {summary}" in text
    assert f"timed out after 0.1 s waiting for {waited_for}" in text and "The object is kept in state" in text
    assert f"on main.tf line {line_of(workspace, resource)}" in text, "the error points at the resource"


def service_names(api: httpx.Client, project: str) -> list[str]:
    return sorted(s["name"] for s in api.get(f"/v1/projects/{project}/services").json()["services"])


def backup_names(api: httpx.Client, project: str, service_name: str) -> list[str]:
    listed = api.get(f"/v1/projects/{project}/services/{service_name}/backups").json()["backups"]
    return sorted(b["name"] for b in listed)


def names_in_state(workspace: Workspace, resource_type: str) -> list[str]:
    return sorted(
        str(values["name"])
        for address, values in workspace.resources().items()
        if address.startswith(f"{resource_type}.")
    )


def diagnostic(stderr: str, summary: str) -> str:
    """The one error diagnostic with this summary, its whitespace normalised (Terraform wraps the detail)."""
    found = [" ".join(part.split()) for part in stderr.split("Error: ")[1:] if part.startswith(summary)]
    assert len(found) == 1, f"expected one {summary!r} error in:\n{stderr}"
    return found[0]


# 1. A create whose wait times out keeps the object in state; the next apply replaces it and converges.


def test_service_create_timeout_keeps_the_service_and_the_next_apply_replaces_it(
    dbaas: Workspace, control_plane: ControlPlane
) -> None:
    project = "tmo-service"
    with use_project(dbaas, control_plane, project) as api:
        write(dbaas, service(name="slow", extra=timeouts(TOO_SHORT)))
        failed = apply_failing(dbaas)
        assert_timed_out(
            failed, dbaas, "create service 'slow'", f"service {project}/slow", 'resource "dbaas_service" "db"'
        )
        first = assert_kept_tainted(dbaas, "dbaas_service.db")
        assert first["id"] == f"{project}/slow"
        assert service_names(api, project) == ["slow"], "the service Terraform kept is the control plane's"

        # The replacement deletes the old service first: the provider waits for its creation to finish
        # (the control plane refuses to delete a busy service).
        write(dbaas, service(name="slow", extra=timeouts(SANE)))
        applied = dbaas.apply()
        assert "dbaas_service.db is tainted, so must be replaced" in applied.stdout
        assert "1 added, 0 changed, 1 destroyed" in applied.stdout
        replaced = dbaas.resources()["dbaas_service.db"]
        assert replaced["state"] == "RUNNING" and replaced["created_at"] != first["created_at"]
        assert "tainted" not in dbaas.run("state", "show", "dbaas_service.db").stdout
        assert service_names(api, project) == names_in_state(dbaas, "dbaas_service") == ["slow"]
        assert api.get(f"/v1/projects/{project}/services/slow").json()["created_at"] == replaced["created_at"]
        assert dbaas.plan_exit_code().returncode == 0, "converged: plan after the replacement is empty"


def incremental_backups(create: str) -> str:
    return f"""
resource "dbaas_backup" "base" {{
  service = dbaas_service.db.name
  name    = "base"
}}
resource "dbaas_backup" "incr" {{
  service     = dbaas_service.db.name
  name        = "incr"
  incremental = true
  depends_on  = [dbaas_backup.base]
  {timeouts(create)}
}}
"""


def test_backup_create_timeout_keeps_the_backup_and_the_next_apply_replaces_it(
    dbaas: Workspace, control_plane: ControlPlane
) -> None:
    # An incremental times out: its replacement needs the full backup it chains on to stay.
    project = "tmo-backup"
    with use_project(dbaas, control_plane, project) as api:
        write(dbaas, service(name="timed") + incremental_backups(TOO_SHORT))
        failed = apply_failing(dbaas)
        assert_timed_out(
            failed,
            dbaas,
            "create backup of service 'timed'",
            f"backup {project}/timed/incr",
            'resource "dbaas_backup" "incr"',
        )
        first = assert_kept_tainted(dbaas, "dbaas_backup.incr")
        assert (first["id"], first["type"], first["parent"]) == (f"{project}/timed/incr", "incremental", "base")
        assert first["state"] in ("Pending", "Running")
        assert dbaas.resources()["dbaas_backup.base"]["state"] == "Succeeded"
        assert backup_names(api, project, "timed") == ["base", "incr"]

        # The replacement deletes the old backup first: the provider waits for it to finish.
        before = api.get(f"/v1/projects/{project}/services/timed/backups/incr").json()

        write(dbaas, service(name="timed") + incremental_backups(SANE))
        applied = dbaas.apply()
        assert "dbaas_backup.incr is tainted, so must be replaced" in applied.stdout
        assert "1 added, 0 changed, 1 destroyed" in applied.stdout
        replaced = dbaas.resources()["dbaas_backup.incr"]
        assert (replaced["state"], replaced["type"], replaced["parent"]) == ("Succeeded", "incremental", "base")
        assert replaced["started_at"] != before["started_at"], "a new backup replaced the tainted one"
        assert "tainted" not in dbaas.run("state", "show", "dbaas_backup.incr").stdout
        assert backup_names(api, project, "timed") == names_in_state(dbaas, "dbaas_backup") == ["base", "incr"]
        listed = api.get(f"/v1/projects/{project}/services/timed/backups/incr").json()
        assert listed["backup_handle"] == replaced["backup_handle"]
        assert dbaas.plan_exit_code().returncode == 0, "converged: plan after the replacement is empty"


def fork(create: str) -> str:
    return f"""
resource "dbaas_backup" "base" {{
  service = dbaas_service.db.name
  name    = "base"
}}
resource "dbaas_database_fork" "copy" {{
  name           = "origin-copy"
  cloud          = "local-east"
  plan           = "hobbyist"
  source_service = dbaas_service.db.name
  backup         = dbaas_backup.base.id
  {timeouts(create)}
}}
"""


def test_fork_create_timeout_keeps_the_fork_and_the_next_apply_replaces_it(
    dbaas: Workspace, control_plane: ControlPlane
) -> None:
    project = "tmo-fork"
    with use_project(dbaas, control_plane, project) as api:
        write(dbaas, service(name="origin") + fork(TOO_SHORT))
        failed = apply_failing(dbaas)
        assert_timed_out(
            failed,
            dbaas,
            "fork service 'origin' into 'origin-copy'",
            f"service {project}/origin-copy",
            'resource "dbaas_database_fork" "copy"',
        )
        first = assert_kept_tainted(dbaas, "dbaas_database_fork.copy")
        assert (first["id"], first["backup"]) == (f"{project}/origin-copy", f"{project}/origin/base")
        assert service_names(api, project) == ["origin", "origin-copy"]

        # As for a service: the provider waits for the restore to finish before deleting the fork.
        write(dbaas, service(name="origin") + fork(SANE))
        applied = dbaas.apply()
        assert "dbaas_database_fork.copy is tainted, so must be replaced" in applied.stdout
        assert "1 added, 0 changed, 1 destroyed" in applied.stdout
        replaced = dbaas.resources()["dbaas_database_fork.copy"]
        assert replaced["state"] == "RUNNING" and replaced["created_at"] != first["created_at"]
        assert replaced["restored_from"]["backup"] == "base"  # type: ignore[index]
        assert "tainted" not in dbaas.run("state", "show", "dbaas_database_fork.copy").stdout
        in_state = sorted(names_in_state(dbaas, "dbaas_service") + names_in_state(dbaas, "dbaas_database_fork"))
        assert service_names(api, project) == in_state == ["origin", "origin-copy"]
        assert api.get(f"/v1/projects/{project}/services/origin-copy").json()["created_at"] == replaced["created_at"]
        assert dbaas.plan_exit_code().returncode == 0, "converged: plan after the replacement is empty"


# 2. Drift: a backup or a strategy deleted behind Terraform's back is planned again.

DRIFT = """
resource "dbaas_backup_strategy" "project" {
  container = "drift-box"
}
resource "dbaas_backup" "first" {
  service    = dbaas_service.db.name
  name       = "first"
  depends_on = [dbaas_backup_strategy.project]
}
resource "dbaas_backup" "second" {
  service     = dbaas_service.db.name
  name        = "second"
  incremental = true
  depends_on  = [dbaas_backup.first]
}
"""


def test_drift_recreates_a_backup_and_a_strategy_deleted_behind_terraform(
    dbaas: Workspace, control_plane: ControlPlane
) -> None:
    project = "tmo-drift"
    with use_project(dbaas, control_plane, project) as api:
        write(dbaas, service(name="drifting") + DRIFT)
        dbaas.apply()
        backup = f"/v1/projects/{project}/services/drifting/backups/second"
        assert api.delete(backup).status_code == 202
        wait_for_gone(api, backup)
        assert api.delete(f"/v1/projects/{project}/backup_strategy").status_code == 204

        plan = dbaas.plan_exit_code()
        assert plan.returncode == 2
        for address in ("dbaas_backup.second", "dbaas_backup_strategy.project"):
            assert f"{address}: Refreshing state..." in plan.stdout
            assert f"# {address} will be created" in plan.stdout, "refresh removed it from state"
        assert "Plan: 2 to add, 0 to change, 0 to destroy." in plan.stdout

        dbaas.apply()
        assert api.get(f"/v1/projects/{project}/backup_strategy").json()["container"] == "drift-box"
        assert backup_names(api, project, "drifting") == names_in_state(dbaas, "dbaas_backup") == ["first", "second"]
        assert dbaas.resources()["dbaas_backup.second"]["container"] == "drift-box"
        assert dbaas.plan_exit_code().returncode == 0


# 3. Validation errors name their attribute and point at its line.


def test_backup_and_strategy_errors_point_at_their_attribute(dbaas: Workspace, control_plane: ControlPlane) -> None:
    project = "tmo-invalid"
    with use_project(dbaas, control_plane, project) as api:
        write(
            dbaas,
            """
resource "dbaas_backup" "both" {
  service     = "shop"
  parent      = "base"
  incremental = true
}
resource "dbaas_backup" "badly_named" {
  service = "shop"
  name    = "-not a name"
}
""",
        )
        plan = dbaas.run("plan", check=False)
        assert plan.returncode == 1
        conflict = diagnostic(plan.stderr, "Conflicting attributes")
        line = line_of(dbaas, "incremental = true")
        assert "incremental cannot be set together with parent" in conflict
        assert f"on main.tf line {line}" in conflict and f"{line}: incremental = true" in conflict
        invalid = diagnostic(plan.stderr, "Invalid value for name")
        line = line_of(dbaas, '"-not a name"')
        assert "must be a backup name" in invalid and "'-not a name'" in invalid
        assert f"on main.tf line {line}" in invalid and f'{line}: name = "-not a name"' in invalid

        # A cron expression is checked at validate, with the control plane's rule: the error names `schedule`
        # and its line.
        write(
            dbaas,
            """
resource "dbaas_backup_strategy" "nightly" {
  container = "nightly-box"
  schedule  = "every night"
}
""",
        )
        failed = apply_failing(dbaas)
        bad = diagnostic(failed.stderr, "Invalid value for schedule")
        line = line_of(dbaas, '"every night"')
        assert "must be a cron expression of five fields" in bad and "'every night'" in bad
        assert f"on main.tf line {line}" in bad and f'{line}: schedule = "every night"' in bad
        assert "dbaas_backup_strategy.nightly" not in dbaas.resources()
        assert api.get(f"/v1/projects/{project}/backup_strategy").status_code == 404
