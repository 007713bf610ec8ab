# A service is imported by `project/name`.
import {
  to = dbaas_service.orders
  id = "acme/orders"
}
