# The project's strategy: the default of every service without a strategy of its own.
resource "dbaas_backup_strategy" "project" {
  container = "nightly"
  schedule  = "0 2 * * *"
  retention = {
    full_count = 7
  }
}

# The orders service keeps its backups in a container of its own, for 30 days.
resource "dbaas_backup_strategy" "orders" {
  service   = "orders"
  container = "orders-backups"
  schedule  = "0 3 * * *"
  retention = {
    days = 30
  }
}
