# A backup is imported by `project/service/name`.
import {
  to = dbaas_backup.nightly
  id = "acme/orders/20261121020000"
}
