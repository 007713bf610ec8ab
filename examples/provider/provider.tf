terraform {
  required_providers {
    dbaas = {
      source = "dbaas/dbaas"
    }
  }
}

variable "token" {
  description = "API token of the project (`dbaas-cp token create --project acme`)."
  type        = string
  sensitive   = true
}

provider "dbaas" {
  endpoint = "http://127.0.0.1:8750" # env DBAAS_ENDPOINT, this default
  token    = var.token               # env DBAAS_TOKEN; sensitive
  project  = "acme"                  # env DBAAS_PROJECT; default project of every resource
}
