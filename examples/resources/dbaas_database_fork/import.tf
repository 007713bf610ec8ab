# A fork is imported by `project/name`.
import {
  to = dbaas_database_fork.orders_nightly
  id = "acme/orders-nightly"
}
