# A fork is imported by `project/name`.
terraform import dbaas_database_fork.orders_nightly acme/orders-nightly
