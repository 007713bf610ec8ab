# The orders service as it was at a point in time, restored in its secondary backup region
# (`local-west`), from the copy kept there.
resource "dbaas_database_fork" "orders_before_incident" {
  name                 = "orders-before-incident"
  source_service       = "orders"
  cloud                = "local-west"
  plan                 = "startup-4"
  recovery_target_time = "2026-11-20T12:00:00Z"
}

# Exactly one backup, restored as a new service.
resource "dbaas_database_fork" "orders_nightly" {
  name           = "orders-nightly"
  source_service = "orders"
  cloud          = "local-east"
  plan           = "hobbyist"
  backup         = "acme/orders/20261121020000"

  timeouts {
    create = "45m"
  }
}
