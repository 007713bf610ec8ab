"""Errors found before apply: regions checked at plan against the control plane's, schedules at validate;
each error points at its attribute. Real Terraform, real control plane."""

from __future__ import annotations

import httpx

from tests.e2e.test_dbaas_service import dbaas, service, write
from tests.terraform_workspace import Workspace

__all__ = ["dbaas"]  # the fixture, imported to be used here


def failed_plan(workspace: Workspace) -> str:
    """The errors of a plan that must fail, as Terraform prints them."""
    plan = workspace.run("plan", "-input=false", check=False)
    assert plan.returncode == 1, plan.stdout
    return plan.stderr


def test_unknown_region_fails_at_plan_naming_cloud(dbaas: Workspace, acme: httpx.Client) -> None:
    write(dbaas, service(name="lost").replace('"local-east"', '"mars-north"'))
    errors = failed_plan(dbaas)
    assert (
        "Error: Unknown region in cloud" in errors
        and "unknown region 'mars-north'; regions: local-east, local-west" in errors
    ), errors
    assert "local-east" in errors, "the error lists the regions there are"
    assert 'cloud        = "mars-north"' in errors, "the error points at `cloud`"
    assert acme.get("/v1/projects/acme/services/lost").status_code == 404


def test_backup_regions_fail_at_plan_naming_the_nested_attribute(dbaas: Workspace) -> None:
    regions = 'user_config = { additional_backup_regions = ["local-west", "mars-north", "local-east"] }'
    write(dbaas, service(name="copied", extra=regions))
    errors = failed_plan(dbaas)
    # Terraform points a nested attribute's error at the resource block: the summary names the whole path.
    assert "Error: Unknown region in user_config.additional_backup_regions" in errors, errors
    assert "unknown region 'mars-north'; regions: local-east, local-west" in errors
    assert "Error: Invalid region in user_config.additional_backup_regions" in errors
    assert "'local-east' is the service's own `cloud`" in errors
    assert "'local-west'" not in errors
    assert errors.count("Error:") == 2, "one error per region at fault"


def test_a_schedule_that_is_not_cron_fails_at_validate(dbaas: Workspace) -> None:
    write(
        dbaas,
        service(name="weekly")
        + """
resource "dbaas_backup_strategy" "weekly" {
  service               = dbaas_service.db.name
  container             = "weekly"
  schedule              = "every tuesday"
  restore_test_schedule = "*/5 * * * *"
}
""",
    )
    validate = dbaas.run("validate", check=False)
    assert validate.returncode == 1
    assert "must be a cron expression of five fields" in validate.stderr, validate.stderr
    assert 'schedule              = "every tuesday"' in validate.stderr
    assert "fires 5 minute(s) apart; firings must be at least 15 minutes apart" in " ".join(validate.stderr.split())
    assert 'restore_test_schedule = "*/5 * * * *"' in validate.stderr
