# The project's strategy: the default of every service without a strategy of its own.
resource "dbaas_backup_strategy" "project" {
  container = "nightly"
  schedule  = "0 2 * * *"
  retention = {
    full_count = 7
  }

  # Every Sunday at 05:00 the newest backup of each service is restored into a scratch server, started
  # and checked; the result is each backup's `last_restore_test`, and a failed test makes it not
  # `ready_to_use`.
  restore_test_schedule = "0 5 * * 0"
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
