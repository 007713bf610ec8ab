variable "name" {
  description = "The service's name, unique in its project."
  type        = string

  validation {
    # The provider's own rule, checked here so that a bad name fails at plan with the variable named.
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.name))
    error_message = "name must start with a lowercase letter and hold only lowercase letters, digits and dashes (at most 63)."
  }
}

variable "cloud" {
  description = "The region the service runs in."
  type        = string
}

variable "plan" {
  description = "The service plan: hobbyist, startup-4 or business-8."
  type        = string
  default     = "hobbyist"
}

variable "backup_regions" {
  description = "Regions that receive a copy of every backup and of the WAL."
  type        = set(string)
  default     = []

  validation {
    condition     = !contains(var.backup_regions, var.cloud)
    error_message = "backup_regions must not contain the service's own region (cloud)."
  }
}

variable "container" {
  description = "The container of the service's new backups; null: \"<name>-backups\"."
  type        = string
  default     = null
}

variable "schedule" {
  description = "When full backups are taken: five-field cron, UTC."
  type        = string
  default     = "0 3 * * *"
}

variable "retention_days" {
  description = "How many days backups are kept."
  type        = number
  default     = 14

  validation {
    condition     = var.retention_days >= 1
    error_message = "retention_days must be at least 1."
  }
}
