# The project's strategy is imported by `project`.
terraform import dbaas_backup_strategy.project acme

# A service's strategy is imported by `project/service`.
terraform import dbaas_backup_strategy.orders acme/orders
