"""Errors found before apply: regions, plans, service types and versions checked at plan against what the
control plane offers, schedules at validate; each error points at its attribute. Real Terraform, real control
plane."""

from __future__ import annotations

import json

import httpx

from tests.e2e.test_dbaas_service import dbaas, service, write
from tests.terraform_workspace import Workspace

__all__ = ["dbaas"]  # the fixture, imported to be used here


def failed_plan(workspace: Workspace) -> str:
    """The errors of a plan that must fail, as Terraform prints them."""
    plan = workspace.run("plan", "-input=false", check=False)
    assert plan.returncode == 1, plan.stdout
    return plan.stderr


def unwrapped(errors: str) -> str:
    """`errors` with Terraform's line wrapping undone (every run of white space one space)."""
    return " ".join(errors.split())


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


def test_unknown_plan_fails_at_plan_naming_plan(dbaas: Workspace, acme: httpx.Client) -> None:
    write(dbaas, service(name="huge", plan="galactic-64"))
    errors = failed_plan(dbaas)
    assert "Error: Unknown plan" in errors, errors
    assert "unknown plan 'galactic-64' in region 'local-east'; plans: hobbyist, startup-4, business-8" in unwrapped(
        errors
    )
    assert 'plan         = "galactic-64"' in errors, "the error points at `plan`"
    assert errors.count("Error:") == 1
    assert acme.get("/v1/projects/acme/services/huge").status_code == 404


def test_unknown_version_fails_at_plan_naming_version(dbaas: Workspace, acme: httpx.Client) -> None:
    write(dbaas, service(name="ancient", extra='version = "9"'))
    errors = failed_plan(dbaas)
    assert "Error: Unknown version" in errors, errors
    assert "pg version '9' is not offered; versions: 15" in unwrapped(errors)
    assert 'version = "9"' in errors, "the error points at `version`"
    assert errors.count("Error:") == 1
    assert acme.get("/v1/projects/acme/services/ancient").status_code == 404


def test_unknown_service_type_fails_at_plan_naming_service_type(dbaas: Workspace) -> None:
    write(dbaas, service(name="exotic", extra='version = "9"').replace('"pg"', '"oracle"'))
    errors = failed_plan(dbaas)
    assert "Error: Unknown service_type" in errors, errors
    assert "unknown service type 'oracle' in region 'local-east'; service types: pg" in unwrapped(errors)
    assert 'service_type = "oracle"' in errors, "the error points at `service_type`"
    assert errors.count("Error:") == 1, "a version is judged only against a service type there is"


def test_a_valid_service_plans_clean_and_a_change_to_an_unknown_plan_fails_at_plan(
    dbaas: Workspace, acme: httpx.Client
) -> None:
    regions = 'version = "15"\n  user_config = { additional_backup_regions = ["local-west"] }'
    write(dbaas, service(name="checked", extra=regions))
    planned = dbaas.plan_exit_code()
    assert planned.returncode == 2 and "Error" not in planned.stderr, planned.stderr
    dbaas.apply()
    assert dbaas.plan_exit_code().returncode == 0
    write(dbaas, service(name="checked", plan="galactic-64", extra=regions))
    errors = failed_plan(dbaas)
    assert "Error: Unknown plan" in errors and "unknown plan 'galactic-64'" in errors, errors
    assert errors.count("Error:") == 1
    assert acme.get("/v1/projects/acme/services/checked").json()["plan"] == "hobbyist"


def test_a_service_made_of_what_dbaas_regions_offers_plans_clean(dbaas: Workspace) -> None:
    write(
        dbaas,
        """
data "dbaas_regions" "all" {}
locals {
  west = one([for region in data.dbaas_regions.all.regions : region if region.name == "local-west"])
  pg   = one([for offer in local.west.service_types : offer if offer.name == "pg"])
}
resource "dbaas_service" "db" {
  name         = "offered"
  service_type = local.pg.name
  cloud        = local.west.name
  plan         = local.west.plans[length(local.west.plans) - 1]
  version      = local.pg.versions[length(local.pg.versions) - 1]
}
""",
    )
    dbaas.run("plan", "-input=false", "-out=offered.tfplan")
    planned = json.loads(dbaas.run("show", "-json", "offered.tfplan").stdout)
    resources = planned["planned_values"]["root_module"]["resources"]
    values = next(resource["values"] for resource in resources if resource["address"] == "dbaas_service.db")
    assert (values["cloud"], values["plan"], values["service_type"], values["version"]) == (
        "local-west",
        "business-8",
        "pg",
        "15",
    )


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
