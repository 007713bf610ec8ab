# Several services, each with its backup strategy and its backup regions, from one reusable module.
terraform {
  required_version = ">= 1.11"

  required_providers {
    dbaas = {
      source = "dbaas/dbaas"
    }
  }
}

# Endpoint, token and project come from DBAAS_ENDPOINT, DBAAS_TOKEN and DBAAS_PROJECT.
provider "dbaas" {}

variable "services" {
  description = "The services to run, by name: their region, the regions that keep a copy of their backups, and how long backups are kept."
  type = map(object({
    cloud          = string
    backup_regions = optional(set(string), [])
    retention_days = optional(number, 14)
  }))
  default = {
    inventory = {
      cloud          = "local-east"
      backup_regions = ["local-west"]
    }
    billing = {
      cloud          = "local-west"
      backup_regions = ["local-east"]
      retention_days = 90
    }
    sessions = {
      cloud = "local-east"
    }
  }
}

module "service" {
  source   = "../modules/backed_up_service"
  for_each = var.services

  name           = each.key
  cloud          = each.value.cloud
  backup_regions = each.value.backup_regions
  retention_days = each.value.retention_days
}

output "connections" {
  description = "host:port of each service."
  value       = { for name, service in module.service : name => "${service.host}:${service.port}" }
}

output "backup_regions" {
  description = "The regions that keep a copy of each service's backups."
  value       = { for name, service in module.service : name => service.backup_regions }
}
