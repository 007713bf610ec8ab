# `terraform test` of the example against a real control plane (DBAAS_ENDPOINT, DBAAS_TOKEN, DBAAS_PROJECT):
# one service per map entry, each with its own backup regions; removing an entry destroys its service;
# everything is destroyed at the end.

variables {
  services = {
    tftest-orders = {
      cloud          = "local-east"
      backup_regions = ["local-west"]
    }
    tftest-billing = {
      cloud          = "local-west"
      backup_regions = ["local-east"]
      retention_days = 90
    }
  }
}

run "plan_has_one_module_instance_per_service" {
  command = plan

  assert {
    condition     = toset(keys(module.service)) == toset(["tftest-orders", "tftest-billing"])
    error_message = "the module instances are not the services of the map"
  }
}

run "apply_runs_each_service_with_its_backup_regions" {
  assert {
    condition     = output.backup_regions["tftest-orders"] == toset(["local-west"]) && output.backup_regions["tftest-billing"] == toset(["local-east"])
    error_message = "the backup regions are not each service's"
  }

  assert {
    condition     = alltrue([for name, connection in output.connections : can(regex("^[^:]+:[0-9]+$", connection))])
    error_message = "a service has no host:port"
  }

  assert {
    condition     = module.service["tftest-billing"].backup_container == "tftest-billing-backups"
    error_message = "billing's backups do not go to a container of its own"
  }
}

run "removing_an_entry_destroys_its_service" {
  variables {
    services = {
      tftest-orders = {
        cloud          = "local-east"
        backup_regions = ["local-west"]
      }
    }
  }

  assert {
    condition     = keys(output.connections) == ["tftest-orders"]
    error_message = "the services left are not orders alone"
  }
}
