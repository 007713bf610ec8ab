terraform {
  # Cross-variable validation (backup_regions against cloud) needs 1.9; the provider needs 1.11.
  required_version = ">= 1.11"

  required_providers {
    dbaas = {
      source = "dbaas/dbaas"
    }
  }
}
