# How far each additional backup region of the orders service lags behind, over the last day.
data "dbaas_backup_region_report" "orders" {
  service = "orders"
  period  = "day" # hour, day, week, month or year
}

output "backup_lag_seconds" {
  value = { for report in data.dbaas_backup_region_report.orders.regions : report.region => report.lag_seconds }
}
