# Google Cloud side: APIs, a dedicated network, the GKE cluster and its nodes, the image registry.
#
# Nothing here has a public address: the nodes are private (no external IP) on their own VPC
# (no default-allow-ssh, works in organisations without a `default` network), reach the
# internet only through Cloud NAT (container images) and Google APIs through Private Google
# Access (the trace bucket, Artifact Registry); the control plane accepts only
# var.master_authorized_networks, or nothing public at all with var.enable_private_endpoint.

locals {
  apis = [
    "compute.googleapis.com",
    "container.googleapis.com",
    "artifactregistry.googleapis.com",
    "iam.googleapis.com",
    # google_project_iam_member reads and writes the project's IAM policy through the
    # Resource Manager API: a fresh project answers 403 until it is enabled.
    "cloudresourcemanager.googleapis.com",
  ]
}

resource "google_project_service" "apis" {
  for_each = toset(local.apis)

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# Nodes run as a dedicated, minimal service account instead of the default
# compute account (which has Editor on the project).
resource "google_service_account" "nodes" {
  project      = var.project_id
  account_id   = "${var.cluster_name}-nodes"
  display_name = "GKE nodes of ${var.cluster_name}"

  depends_on = [google_project_service.apis]
}

resource "google_project_iam_member" "nodes_default" {
  project = var.project_id
  role    = "roles/container.defaultNodeServiceAccount"
  member  = "serviceAccount:${google_service_account.nodes.email}"

  depends_on = [google_project_service.apis]
}

# ------------------------------------------------------------------ network

resource "google_compute_network" "this" {
  project                 = var.project_id
  name                    = var.cluster_name
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"

  depends_on = [google_project_service.apis]
}

resource "google_compute_subnetwork" "nodes" {
  project       = var.project_id
  name          = "${var.cluster_name}-nodes"
  region        = var.region
  network       = google_compute_network.this.id
  ip_cidr_range = var.subnet_cidr
  # Private nodes reach Google APIs (Artifact Registry, the public trace bucket in Cloud
  # Storage) without NAT.
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = local.pods_range_name
    ip_cidr_range = var.pods_cidr
  }

  secondary_ip_range {
    range_name    = local.services_range_name
    ip_cidr_range = var.services_cidr
  }
}

# Outbound-only internet access for the private nodes (images from Docker Hub and quay.io).
resource "google_compute_router" "nat" {
  project = var.project_id
  name    = "${var.cluster_name}-nat"
  region  = var.region
  network = google_compute_network.this.id
}

resource "google_compute_router_nat" "nat" {
  project                            = var.project_id
  name                               = "${var.cluster_name}-nat"
  router                             = google_compute_router.nat.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"

  subnetwork {
    name                    = google_compute_subnetwork.nodes.id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# ------------------------------------------------------------------ cluster

resource "google_container_cluster" "this" {
  project  = var.project_id
  name     = var.cluster_name
  location = var.zone

  # The default pool is replaced by google_container_node_pool.default.
  remove_default_node_pool = true
  initial_node_count       = 1

  deletion_protection = var.deletion_protection
  network             = google_compute_network.this.id
  subnetwork          = google_compute_subnetwork.nodes.id
  networking_mode     = "VPC_NATIVE"

  ip_allocation_policy {
    cluster_secondary_range_name  = local.pods_range_name
    services_secondary_range_name = local.services_range_name
  }

  # Nodes get internal addresses only. The control plane keeps a public endpoint that only
  # var.master_authorized_networks may reach, unless var.enable_private_endpoint turns it off
  # (Terraform and kubectl must then run from inside the VPC or a peered network).
  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = var.enable_private_endpoint
  }

  # Dataplane V2 enforces the NetworkPolicies of deploy/k8s.
  datapath_provider = "ADVANCED_DATAPATH"

  release_channel {
    channel = var.release_channel
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  # Always set: without this block the endpoint accepts every address.
  master_authorized_networks_config {
    gcp_public_cidrs_access_enabled = false

    dynamic "cidr_blocks" {
      for_each = var.master_authorized_networks
      content {
        cidr_block   = cidr_blocks.value.cidr_block
        display_name = cidr_blocks.value.display_name
      }
    }
  }

  node_config {
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
  }

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.nodes_default,
    # Private nodes pull their images through the NAT: a node pool created before it
    # would sit with ImagePullBackOff pods.
    google_compute_router_nat.nat,
  ]
}

resource "google_container_node_pool" "default" {
  project    = var.project_id
  name       = "default"
  cluster    = google_container_cluster.this.name
  location   = var.zone
  node_count = var.node_count

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.machine_type
    disk_size_gb    = var.node_disk_size_gb
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]

    # Pods get Workload Identity credentials, never the node's.
    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    # Kubernetes node labels: GKE and the kubelet refuse keys under kubernetes.io/ and
    # k8s.io/ (and their subdomains), so the project's own prefix is used.
    labels = local.node_labels
  }
}

resource "google_artifact_registry_repository" "tracepipe" {
  project       = var.project_id
  location      = var.region
  repository_id = var.artifact_repository_id
  format        = "DOCKER"
  description   = "tracepipe container images"

  depends_on = [google_project_service.apis]
}

resource "google_artifact_registry_repository_iam_member" "nodes_pull" {
  project    = var.project_id
  location   = google_artifact_registry_repository.tracepipe.location
  repository = google_artifact_registry_repository.tracepipe.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.nodes.email}"
}
