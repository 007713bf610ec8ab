# An existing service, looked up by name in the provider's project.
data "dbaas_service" "orders" {
  name = "orders"
}

output "orders_address" {
  value = "${data.dbaas_service.orders.host}:${data.dbaas_service.orders.port}"
}
