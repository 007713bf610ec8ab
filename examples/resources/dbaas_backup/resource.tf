# A full backup, named after its creation time (`yyyyMMddHHmmss`, UTC) since no name is given.
resource "dbaas_backup" "nightly" {
  service     = "orders"
  description = "Before the schema migration"
  labels = {
    purpose = "pre-migration"
  }

  timeouts {
    create = "2h"
  }
}

# An incremental backup on top of the one above: it needs the parent's data and WAL.
resource "dbaas_backup" "after_migration" {
  service = "orders"
  name    = "after-migration"
  parent  = dbaas_backup.nightly.name

  # Return as soon as the control plane accepted the backup; `state` tells how it went.
  wait_for_completion = false
}

# Register a backup taken elsewhere: its data is not owned, so destroy forgets it and never deletes it.
resource "dbaas_backup" "legacy" {
  service = "legacy"
  import_source = {
    backup_handle = "pgbackrest:/srv/backups/legacy#legacy/20261120-020000F"
    backup_plugin = "pgbackrest"
  }
}
