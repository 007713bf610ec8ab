# A PostgreSQL service whose backups follow a strategy of its own and are copied to other regions.
resource "dbaas_service" "this" {
  name         = var.name
  service_type = "pg"
  cloud        = var.cloud
  plan         = var.plan

  user_config = {
    additional_backup_regions = var.backup_regions
  }
}

resource "dbaas_backup_strategy" "this" {
  service   = dbaas_service.this.name
  container = coalesce(var.container, "${var.name}-backups")
  schedule  = var.schedule
  retention = {
    days = var.retention_days
  }
}
