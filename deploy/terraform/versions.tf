# The exact versions (and the checksums of their release packages) are pinned in
# .terraform.lock.hcl, which is committed: `terraform init` installs those, and only
# `terraform init -upgrade` moves them (then commit the updated lock file).
terraform {
  required_version = ">= 1.9.0" # validations that compare variables

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.45"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.38"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.1"
    }
    # kubectl_manifest applies the Strimzi custom resources without needing their
    # CRDs at plan time (the cluster does not exist yet on the first plan).
    # 2.1.x: later 2.x releases need `lazy_load` for that pattern.
    kubectl = {
      source  = "alekc/kubectl"
      version = "~> 2.1.3"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }
}
