# The project's strategy is imported by `project`.
import {
  to = dbaas_backup_strategy.project
  id = "acme"
}

# A service's strategy is imported by `project/service`.
import {
  to = dbaas_backup_strategy.orders
  id = "acme/orders"
}
