"""`terraform test` of the reusable module examples/modules/backed_up_service and of the example that uses it
with `for_each` (examples/module_for_each): the real terraform binary, the dbaas provider through
dev_overrides, a real control plane. The runs must pass, a failing expectation must be reported as a
failure, and nothing the apply runs made may be left in the project afterwards."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.controlplane.cp_process import ControlPlane
from tests.plugin_process import REPO
from tests.terraform_workspace import TerraformResult, Workspace

PROJECT = "tftest"
MODULE = "modules/backed_up_service"
EXAMPLE = "module_for_each"
VARIABLES = 'variables {\n  name  = "tftest-fails"\n  cloud = "local-east"\n}\n'
# Expectations that do not hold, each in a test file of its own next to the module's (a run that ends in an
# error skips the runs after it in its file): every one must be reported as failed.
FAILING_RUNS = {
    "assertion": """
run "an_assertion_that_does_not_hold" {
  command = plan

  assert {
    condition     = dbaas_service.this.plan == "business-8"
    error_message = "the plan is not business-8"
  }
}
""",
    "expected_failure": """
run "an_expected_failure_that_does_not_happen" {
  command = plan

  expect_failures = [var.name]
}
""",
    "provider_refusal": """
run "a_container_the_provider_refuses" {
  command = plan

  variables {
    container = "Not A Container"
  }
}
""",
}


@pytest.fixture
def examples(workspace: Workspace, control_plane: ControlPlane) -> Iterator[Workspace]:
    """A copy of the module and the example (the example's module source is a relative path) with the
    provider pointed at a project of their own."""
    shutil.copytree(REPO / "examples" / "modules", workspace.path / "modules")
    shutil.copytree(REPO / "examples" / EXAMPLE, workspace.path / EXAMPLE)
    workspace.env.update(
        DBAAS_ENDPOINT=control_plane.url, DBAAS_TOKEN=control_plane.create_token(PROJECT), DBAAS_PROJECT=PROJECT
    )
    yield workspace
    with control_plane.client(control_plane.create_token(PROJECT)) as api:
        services = api.get(f"/v1/projects/{PROJECT}/services").json()["services"]
    assert [service["name"] for service in services] == [], "terraform test left services behind"


def terraform_test(examples: Workspace, directory: str, *args: str) -> TerraformResult:
    """`terraform init` then `terraform test` in one of the copied directories."""
    inside = replace(examples, path=examples.path / directory)
    initialised = inside.run("get", check=False)
    assert initialised.returncode == 0, f"terraform init in {directory}:\n{initialised.stdout}\n{initialised.stderr}"
    return inside.run("test", *args, check=False)


def summary(result: TerraformResult) -> tuple[str, int, int]:
    """("Success" or "Failure", passed, failed) from the last line `terraform test` prints."""
    found = re.search(r"(Success|Failure)! (\d+) passed, (\d+) failed[.,]", result.stdout)
    assert found is not None, f"no summary in:\n{result.stdout}\n{result.stderr}"
    return found[1], int(found[2]), int(found[3])


def test_the_module_test_passes(examples: Workspace) -> None:
    result = terraform_test(examples, MODULE)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert summary(result) == ("Success", 5, 0)
    for run in ("a_bad_name_is_refused", "apply_makes_a_running_service", "backup_regions_and_retention_change"):
        assert re.search(rf"run \"{run}\"\.\.\. pass", result.stdout), result.stdout


def test_the_for_each_example_test_passes(examples: Workspace) -> None:
    result = terraform_test(examples, EXAMPLE)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert summary(result) == ("Success", 3, 0)
    assert 'run "removing_an_entry_destroys_its_service"... pass' in result.stdout


def test_expectations_that_do_not_hold_are_reported(examples: Workspace) -> None:
    filters = []
    for name, runs in FAILING_RUNS.items():
        (examples.path / MODULE / "tests" / f"failing_{name}.tftest.hcl").write_text(VARIABLES + runs)
        filters.append(f"-filter=tests/failing_{name}.tftest.hcl")
    result = terraform_test(examples, MODULE, *filters)
    assert result.returncode == 1
    assert summary(result) == ("Failure", 0, 3), result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "the plan is not business-8" in output
    assert "Missing expected failure" in output
    assert "a container name of lowercase letters" in output, "the provider's refusal of the container is reported"


def test_the_module_and_example_are_formatted(workspace: Workspace) -> None:
    for directory in (MODULE, EXAMPLE):
        formatted = workspace.run(
            "fmt", "-check", "-diff", "-recursive", str(REPO / "examples" / directory), check=False
        )
        assert formatted.returncode == 0, f"examples/{directory} is not `terraform fmt`-formatted:\n{formatted.stdout}"
