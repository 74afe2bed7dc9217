provider "google" {
  project = var.project_id
  region  = var.region
}

# Short-lived OAuth token of whoever runs terraform (gcloud auth application-default login).
data "google_client_config" "current" {}

locals {
  cluster_endpoint = "https://${google_container_cluster.this.endpoint}"
  # try(): `terraform test`'s mocked google provider leaves the computed master_auth block
  # empty; a real cluster always has it (and an empty CA would fail TLS verification loudly).
  cluster_ca_cert = base64decode(try(google_container_cluster.this.master_auth[0].cluster_ca_certificate, ""))
}

provider "kubernetes" {
  host                   = local.cluster_endpoint
  token                  = data.google_client_config.current.access_token
  cluster_ca_certificate = local.cluster_ca_cert
}

provider "helm" {
  kubernetes = {
    host                   = local.cluster_endpoint
    token                  = data.google_client_config.current.access_token
    cluster_ca_certificate = local.cluster_ca_cert
  }
}

provider "kubectl" {
  host                   = local.cluster_endpoint
  token                  = data.google_client_config.current.access_token
  cluster_ca_certificate = local.cluster_ca_cert
  load_config_file       = false
  # The Strimzi CRDs are installed by helm_release.strimzi just before the custom
  # resources; retry while the API server's discovery catches up.
  apply_retry_count = 5
}
