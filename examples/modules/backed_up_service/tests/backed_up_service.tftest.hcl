# `terraform test` of the module against a real control plane: the dbaas provider takes its endpoint, token
# and project from DBAAS_ENDPOINT, DBAAS_TOKEN and DBAAS_PROJECT. Plan-only runs check what the module asks
# for and that its variable validations refuse bad input; apply runs create the service and its strategy,
# change them, and `terraform test` destroys them at the end.

variables {
  name           = "tftest-orders"
  cloud          = "local-east"
  backup_regions = ["local-west"]
}

run "plan_names_the_service_and_its_strategy" {
  command = plan

  assert {
    condition     = dbaas_service.this.name == "tftest-orders" && dbaas_service.this.cloud == "local-east"
    error_message = "the service is not tftest-orders in local-east"
  }

  assert {
    condition     = dbaas_service.this.user_config.additional_backup_regions == toset(["local-west"])
    error_message = "the service's backups are not copied to local-west"
  }

  assert {
    condition     = dbaas_backup_strategy.this.service == "tftest-orders"
    error_message = "the strategy is not the service's"
  }

  assert {
    condition     = dbaas_backup_strategy.this.container == "tftest-orders-backups"
    error_message = "the default container is not <name>-backups"
  }
}

run "a_bad_name_is_refused" {
  command = plan

  variables {
    name = "Orders_1"
  }

  expect_failures = [var.name]
}

run "a_backup_region_equal_to_cloud_is_refused" {
  command = plan

  variables {
    backup_regions = ["local-east", "local-west"]
  }

  expect_failures = [var.backup_regions]
}

run "apply_makes_a_running_service" {
  assert {
    condition     = dbaas_service.this.state == "RUNNING"
    error_message = "the service is not RUNNING after apply"
  }

  assert {
    condition     = output.id == "${dbaas_service.this.project}/tftest-orders"
    error_message = "the id is not project/name"
  }

  assert {
    condition     = output.host != "" && output.port > 0
    error_message = "the service has no host and port to connect to"
  }

  assert {
    condition     = output.backup_regions == toset(["local-west"])
    error_message = "the control plane does not report local-west as a backup region"
  }

  assert {
    condition     = output.backup_container == "tftest-orders-backups" && dbaas_backup_strategy.this.retention.days == 14
    error_message = "the strategy is not the module's default"
  }
}

run "backup_regions_and_retention_change" {
  variables {
    backup_regions = []
    retention_days = 30
  }

  assert {
    condition     = output.created_at == run.apply_makes_a_running_service.created_at && dbaas_service.this.state == "RUNNING"
    error_message = "the service was replaced, or is not running: backup regions change in place"
  }

  assert {
    condition     = length(output.backup_regions) == 0
    error_message = "the backup regions were not removed"
  }

  assert {
    condition     = dbaas_backup_strategy.this.retention.days == 30
    error_message = "the retention did not change"
  }
}
