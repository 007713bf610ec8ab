output "id" {
  description = "The service's import ID, project/name."
  value       = dbaas_service.this.id
}

output "created_at" {
  description = "When the service was created (RFC 3339): it changes only when the service is replaced."
  value       = dbaas_service.this.created_at
}

output "host" {
  description = "The host to connect to."
  value       = dbaas_service.this.host
}

output "port" {
  description = "The port to connect to."
  value       = dbaas_service.this.port
}

output "uri" {
  description = "A postgres:// URI with the owner role's credentials."
  value       = dbaas_service.this.uri
  sensitive   = true
}

output "backup_regions" {
  description = "The regions that hold a copy of the service's backups, as the control plane reports them."
  value       = dbaas_service.this.user_config.additional_backup_regions
}

output "backup_container" {
  description = "The container of the service's new backups."
  value       = dbaas_backup_strategy.this.container
}
