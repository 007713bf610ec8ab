# A PostgreSQL service whose backups are also copied to a second region.
resource "dbaas_service" "orders" {
  name         = "orders"
  service_type = "pg"
  cloud        = "local-east"
  plan         = "startup-4"

  user_config = {
    # Every backup and its WAL are copied here too; none may equal `cloud`.
    additional_backup_regions = ["local-west"]
  }

  # `terraform destroy` refuses while this is true.
  termination_protection = true

  timeouts {
    create = "30m"
  }
}

output "orders_uri" {
  value     = dbaas_service.orders.uri
  sensitive = true
}
