# A service is imported by `project/name`.
terraform import dbaas_service.orders acme/orders
