# A backup is imported by `project/service/name`.
terraform import dbaas_backup.nightly acme/orders/20261121020000
