# The quickstart: a PostgreSQL service whose backups are copied to a second region, sample rows, a full
# and an incremental backup, and a fork restored in the second region from the copy kept there.
# `make quickstart` runs it against a local control plane; see README.md beside this file.

terraform {
  required_version = ">= 1.11"
  required_providers {
    dbaas = { source = "dbaas/dbaas" }
  }
}

# endpoint, token and project come from DBAAS_ENDPOINT, DBAAS_TOKEN and DBAAS_PROJECT.
provider "dbaas" {}

variable "primary_region" {
  description = "Where the service runs and backs up."
  type        = string
  default     = "local-east"
}

variable "backup_region" {
  description = "Where copies of its backups are kept, and where the fork is restored."
  type        = string
  default     = "local-west"
}

locals {
  rows_before_full        = ["espresso", "flat white"]
  rows_before_incremental = ["cortado"]
  expected_rows           = concat(local.rows_before_full, local.rows_before_incremental)
}

resource "dbaas_service" "orders" {
  name         = "orders"
  service_type = "pg"
  cloud        = var.primary_region
  plan         = "hobbyist"
  user_config = {
    additional_backup_regions = [var.backup_region]
  }
}

# Sample rows, written with psql: two before the full backup, one more before the incremental one.
resource "terraform_data" "rows_before_full" {
  triggers_replace = [dbaas_service.orders.id]
  provisioner "local-exec" {
    command     = <<-SQL
      psql "$URI" -v ON_ERROR_STOP=1 -q \
        -c "CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, item text NOT NULL)" \
        -c "INSERT INTO orders (item) VALUES ${join(", ", [for item in local.rows_before_full : "('${item}')"])}"
    SQL
    environment = { URI = dbaas_service.orders.uri }
  }
}

resource "dbaas_backup" "full" {
  service     = dbaas_service.orders.name
  name        = "quickstart-full"
  description = "Full backup with the first rows"
  labels      = { purpose = "quickstart" }
  depends_on  = [terraform_data.rows_before_full]
}

resource "terraform_data" "rows_before_incremental" {
  triggers_replace = [dbaas_backup.full.id]
  provisioner "local-exec" {
    command     = <<-SQL
      psql "$URI" -v ON_ERROR_STOP=1 -q \
        -c "INSERT INTO orders (item) VALUES ${join(", ", [for item in local.rows_before_incremental : "('${item}')"])}"
    SQL
    environment = { URI = dbaas_service.orders.uri }
  }
}

resource "dbaas_backup" "incremental" {
  service     = dbaas_service.orders.name
  name        = "quickstart-incremental"
  parent      = dbaas_backup.full.name
  description = "Incremental backup on the full one, with one more row"
  labels      = { purpose = "quickstart" }
  depends_on  = [terraform_data.rows_before_incremental]
}

# Restored in the backup region, from the copy of the incremental backup kept there.
resource "dbaas_database_fork" "restored" {
  name           = "orders-restored"
  source_service = dbaas_service.orders.name
  backup         = dbaas_backup.incremental.id
  cloud          = var.backup_region
  plan           = "hobbyist"
}

# The proof: the fork's rows are read with psql and must be exactly the rows written before the backup.
resource "terraform_data" "restored_rows" {
  input            = join(", ", local.expected_rows)
  triggers_replace = [dbaas_database_fork.restored.id]
  provisioner "local-exec" {
    command     = <<-SH
      found=$(psql "$URI" -v ON_ERROR_STOP=1 -tA -c "SELECT string_agg(item, ', ' ORDER BY id) FROM orders")
      test "$found" = "$EXPECTED" || { echo "the fork holds '$found', expected '$EXPECTED'" >&2; exit 1; }
    SH
    environment = { URI = dbaas_database_fork.restored.uri, EXPECTED = join(", ", local.expected_rows) }
  }
}

# Read after the fork: by then the copies of both backups are in the backup region.
data "dbaas_backups" "orders" {
  service    = dbaas_service.orders.name
  labels     = { purpose = "quickstart" }
  depends_on = [dbaas_database_fork.restored]
}

data "dbaas_backup_region_report" "orders" {
  service    = dbaas_service.orders.name
  period     = "hour"
  depends_on = [dbaas_database_fork.restored]
}

output "restored_rows" {
  description = "The rows read back from the fork (the apply fails if they differ from the rows written)."
  value       = terraform_data.restored_rows.output
}

output "restored_from" {
  description = "What the fork was restored from: the backup, the region of the copy, the point in time."
  value       = dbaas_database_fork.restored.restored_from
}

output "backups" {
  description = "The two backups and their copies in the backup region."
  value = {
    for backup in data.dbaas_backups.orders.backups : backup.name => {
      type     = backup.type
      region   = backup.region
      replicas = backup.replicas
    }
  }
}

output "replication_status" {
  description = "Per backup region: whether copying is ok (the lag itself is in the data source's regions)."
  value       = { for region in data.dbaas_backup_region_report.orders.regions : region.region => region.status }
}

output "fork_uri" {
  description = "Connect to the restored service: psql \"$(terraform output -raw fork_uri)\""
  value       = dbaas_database_fork.restored.uri
  sensitive   = true
}
