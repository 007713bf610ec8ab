"""Real Terraform drives the test provider through a resource's whole life."""

from __future__ import annotations

import json
import re

from tests.terraform_workspace import Workspace


def item(name: str = "alpha", value: str = "one", secret: str = "s3cret") -> str:
    return f'''
resource "testing_item" "a" {{
  name  = "{name}"
  value = "{value}"
  labels = {{ team = "data" }}
  secret = {f'"{secret}"' if secret else "null"}
}}
'''


def test_create_read_update_replace_delete(workspace: Workspace) -> None:
    workspace.write(item())
    workspace.apply()
    created = workspace.resources()["testing_item.a"]
    assert created["value"] == "one" and created["revision"] == 1
    assert created["settings"] == {"size": 1, "tier": None}
    assert list(workspace.stored_items()) == [created["id"]]
    assert workspace.plan_exit_code().returncode == 0, "plan after apply must be empty"

    workspace.write(item(value="two"))
    plan = workspace.plan_exit_code()
    assert plan.returncode == 2 and "1 to change" in plan.stdout and "must be replaced" not in plan.stdout
    workspace.apply()
    updated = workspace.resources()["testing_item.a"]
    assert (updated["id"], updated["value"], updated["revision"]) == (created["id"], "two", 2)
    assert updated["created_at"] == created["created_at"]
    assert workspace.plan_exit_code().returncode == 0

    workspace.write(item(name="beta", value="two"))
    plan = workspace.plan_exit_code()
    assert "must be replaced" in plan.stdout and "1 to add, 0 to change, 1 to destroy" in plan.stdout
    workspace.apply()
    replaced = workspace.resources()["testing_item.a"]
    assert replaced["id"] != created["id"]
    assert list(workspace.stored_items()) == [replaced["id"]]
    assert workspace.plan_exit_code().returncode == 0

    workspace.run("destroy", "-auto-approve")
    assert workspace.stored_items() == {}


def test_values_unknown_until_another_resource_is_applied(workspace: Workspace) -> None:
    workspace.write(
        item()
        + """
resource "testing_item" "b" {
  name  = "bravo"
  value = testing_item.a.id
}
data "testing_item" "a" {
  name = testing_item.a.name
  depends_on = [testing_item.a]
}
output "looked_up" {
  value = data.testing_item.a.value
}
"""
    )
    plan = workspace.run("plan")
    assert re.search(r"value\s+= \(known after apply\)", plan.stdout)
    workspace.apply()
    resources = workspace.resources()
    assert resources["testing_item.b"]["value"] == resources["testing_item.a"]["id"]
    assert '"one"' in workspace.run("output", "-json", "looked_up").stdout
    assert workspace.plan_exit_code().returncode == 0


def test_validation_error_points_at_the_hcl_line(workspace: Workspace) -> None:
    workspace.write(item(name="Not_Valid"))
    result = workspace.run("plan", check=False)
    assert result.returncode == 1
    assert "Invalid value for name" in result.stderr
    assert re.search(r"on main.tf line 11, in resource \"testing_item\" \"a\"", result.stderr)
    assert 'name  = "Not_Valid"' in result.stderr


def test_drift_is_detected_and_deleted_objects_leave_state(workspace: Workspace) -> None:
    workspace.write(item())
    workspace.apply()
    for path in workspace.store.glob("*.json"):
        path.unlink()
    plan = workspace.plan_exit_code()
    assert plan.returncode == 2 and "1 to add" in plan.stdout
    workspace.apply()
    assert len(workspace.stored_items()) == 1


def test_import_block_with_generated_config_then_plans_no_changes(workspace: Workspace) -> None:
    # A sensitive value cannot be read back into generated configuration, so the item has none.
    workspace.write(item(name="gamma", secret=""))
    workspace.apply()
    original = workspace.resources()["testing_item.a"]
    workspace.run("state", "rm", "testing_item.a")
    workspace.write('import {\n  to = testing_item.imported\n  id = "gamma"\n}\n')
    plan = workspace.run("plan", "-generate-config-out=generated.tf")
    assert "1 to import" in plan.stdout
    generated = (workspace.path / "generated.tf").read_text()
    assert 'name         = "gamma"' in generated or re.search(r'name\s+= "gamma"', generated)
    workspace.apply()
    assert workspace.resources()["testing_item.imported"]["id"] == original["id"]
    assert workspace.plan_exit_code().returncode == 0


def test_defaults_and_write_only_attributes(workspace: Workspace) -> None:
    workspace.write("""
resource "testing_item" "w" {
  name        = "delta"
  password_wo = "correct horse"
}
""")
    plan = workspace.run("plan")
    assert 'color           = "blue"' in plan.stdout or re.search(r'color\s+= "blue"', plan.stdout)
    workspace.apply()
    values = workspace.resources()["testing_item.w"]
    assert values["color"] == "blue"
    assert values["password_wo"] is None, "write-only values never reach state"
    assert values["password_length"] == len("correct horse")
    state_text = (workspace.path / "terraform.tfstate").read_text()
    assert "correct horse" not in state_text
    assert workspace.plan_exit_code().returncode == 0


def test_state_written_by_schema_version_0_is_upgraded(workspace: Workspace) -> None:
    workspace.write(item(name="epsilon", value="new"))
    workspace.apply()
    state_path = workspace.path / "terraform.tfstate"
    state = json.loads(state_path.read_text())
    [instance] = state["resources"][0]["instances"]
    # Rewrite the state as version 0 of the schema stored it: the value was called "data".
    instance["schema_version"] = 0
    instance["attributes"]["data"] = instance["attributes"].pop("value")
    state["serial"] += 1
    state_path.write_text(json.dumps(state))
    assert workspace.plan_exit_code().returncode == 0
    workspace.apply()
    assert workspace.resources()["testing_item.a"]["value"] == "new"
    upgraded = json.loads(state_path.read_text())["resources"][0]["instances"][0]
    assert upgraded["schema_version"] == 1 and "data" not in upgraded["attributes"]
