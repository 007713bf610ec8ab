# The restorable backups of the orders service labelled before the migration, oldest first.
data "dbaas_backups" "pre_migration" {
  service = "orders"
  state   = "Succeeded"
  labels = {
    purpose = "pre-migration"
  }
}

output "pre_migration_backup_ids" {
  value = [for backup in data.dbaas_backups.pre_migration.backups : backup.id]
}

# Those whose last restore test failed: their data no longer restores (they are not `ready_to_use`).
output "unrestorable_backup_ids" {
  value = [for backup in data.dbaas_backups.pre_migration.backups : backup.id if try(backup.last_restore_test.state, null) == "failed"]
}
