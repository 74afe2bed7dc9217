# `terraform test` with mocked providers: no cloud account, no cluster, no network. Every
# resource is planned and "applied" against the mocks, so the assertions see the values
# Terraform would send to Google Cloud and to the cluster.
#
#   cd deploy/terraform && terraform init && terraform test
#
# tests/deploy/test_terraform.py runs it whenever the pinned providers are installed.

mock_provider "google" {
  mock_data "google_client_config" {
    defaults = {
      access_token = "mock-token"
    }
  }
}

mock_provider "kubernetes" {}
mock_provider "helm" {}
mock_provider "kubectl" {}
mock_provider "random" {}
mock_provider "tls" {}

variables {
  project_id = "example-project"
  master_authorized_networks = [
    { cidr_block = "192.0.2.0/24", display_name = "documentation range" },
  ]
}

run "node_pool" {
  assert {
    condition = alltrue([
      for key in keys(google_container_node_pool.default.node_config[0].labels) :
      !can(regex("^([^/]*\\.)?(kubernetes|k8s)\\.io/", key))
    ])
    error_message = "A node label under kubernetes.io/ or k8s.io/: GKE rejects the node pool."
  }
  assert {
    condition     = google_container_node_pool.default.node_config[0].labels["tracepipe.io/part-of"] == "tracepipe"
    error_message = "The nodes lost their tracepipe label."
  }
  assert {
    condition     = google_container_node_pool.default.node_count == 3 && google_container_node_pool.default.node_config[0].machine_type == "e2-standard-2"
    error_message = "Node pool defaults changed."
  }
}

run "apis" {
  assert {
    condition     = contains(keys(google_project_service.apis), "cloudresourcemanager.googleapis.com")
    error_message = "The IAM members need the Cloud Resource Manager API (403 on a fresh project)."
  }
  assert {
    condition = alltrue([for api in ["compute.googleapis.com", "container.googleapis.com", "iam.googleapis.com", "artifactregistry.googleapis.com"] :
    contains(keys(google_project_service.apis), api)])
    error_message = "An API the cluster needs is not enabled."
  }
}

run "network" {
  assert {
    condition     = google_compute_network.this.auto_create_subnetworks == false
    error_message = "The cluster's VPC must be a custom-mode network of its own."
  }
  assert {
    condition     = google_container_cluster.this.network == google_compute_network.this.id && google_container_cluster.this.subnetwork == google_compute_subnetwork.nodes.id
    error_message = "The cluster is not on its own VPC (the project's default network has default-allow-ssh)."
  }
  assert {
    condition     = google_container_cluster.this.private_cluster_config[0].enable_private_nodes == true
    error_message = "Nodes would get public IPs."
  }
  assert {
    condition     = google_container_cluster.this.private_cluster_config[0].enable_private_endpoint == false
    error_message = "The public endpoint is kept by default (restricted to master_authorized_networks)."
  }
  assert {
    condition     = google_compute_subnetwork.nodes.private_ip_google_access == true
    error_message = "Private nodes need Private Google Access (Artifact Registry, the trace bucket)."
  }
  assert {
    condition     = length(google_compute_subnetwork.nodes.secondary_ip_range) == 2 && google_container_cluster.this.ip_allocation_policy[0].cluster_secondary_range_name == google_compute_subnetwork.nodes.secondary_ip_range[0].range_name
    error_message = "Pods and Services must use the subnet's secondary ranges."
  }
  assert {
    condition     = google_compute_router_nat.nat.source_subnetwork_ip_ranges_to_nat == "LIST_OF_SUBNETWORKS" && one(google_compute_router_nat.nat.subnetwork).name == google_compute_subnetwork.nodes.id
    error_message = "Cloud NAT must serve the nodes' subnet (egress for container images)."
  }
  assert {
    condition     = google_compute_router.nat.network == google_compute_network.this.id
    error_message = "The NAT router is on another network."
  }
}

run "control_plane_endpoint" {
  assert {
    condition     = length(google_container_cluster.this.master_authorized_networks_config) == 1
    error_message = "The control plane has no authorized networks: open to every address."
  }
  assert {
    condition     = [for c in google_container_cluster.this.master_authorized_networks_config[0].cidr_blocks : c.cidr_block] == ["192.0.2.0/24"]
    error_message = "The authorized networks are not the ones given."
  }
  assert {
    condition     = google_container_cluster.this.master_authorized_networks_config[0].gcp_public_cidrs_access_enabled == false
    error_message = "Google Cloud's public ranges would reach the control plane."
  }
}

run "private_endpoint" {
  variables {
    enable_private_endpoint = true
    master_authorized_networks = [
      { cidr_block = "10.10.0.0/22", display_name = "nodes subnet" },
    ]
  }
  assert {
    condition     = google_container_cluster.this.private_cluster_config[0].enable_private_endpoint == true
    error_message = "enable_private_endpoint does not reach the cluster."
  }
}

run "no_authorized_networks" {
  command = plan
  variables {
    master_authorized_networks = []
  }
  expect_failures = [var.master_authorized_networks]
}

run "open_authorized_networks" {
  command = plan
  variables {
    master_authorized_networks = [{ cidr_block = "0.0.0.0/0", display_name = "everyone" }]
  }
  expect_failures = [var.master_authorized_networks]
}

run "kafka_deletion_order" {
  assert {
    condition     = length(kubectl_manifest.kafka_entities) == 7 && alltrue([for k, m in kubectl_manifest.kafka_entities : startswith(k, "KafkaTopic/") || startswith(k, "KafkaUser/")])
    error_message = "The entities stage must hold exactly the 3 KafkaTopics and 4 KafkaUsers."
  }
  assert {
    condition     = toset(keys(kubectl_manifest.kafka_cluster)) == toset(["Kafka/kafka/kafka-cluster", "KafkaNodePool/kafka/dual-role"])
    error_message = "The cluster stage must hold the Kafka and KafkaNodePool."
  }
  assert {
    condition     = alltrue([for m in values(kubectl_manifest.kafka_entities) : m.wait]) && alltrue([for m in values(kubectl_manifest.kafka_cluster) : m.wait])
    error_message = "Deleting topics, users and the cluster must wait until they are gone (finalizers)."
  }
  assert {
    condition     = alltrue([for k in keys(kubectl_manifest.kafka_base) : !startswith(k, "Kafka")])
    error_message = "A Strimzi resource is in the base stage."
  }
}

run "rendered_manifests" {
  variables {
    tracepipe_image = "europe-west1-docker.pkg.dev/example-project/tracepipe/tracepipe:9.9.9"
  }
  assert {
    condition     = yamldecode(helm_release.strimzi.values[0]).generateNetworkPolicy == false
    error_message = "Strimzi's generated NetworkPolicies (metrics port open to all) must stay off."
  }
  assert {
    condition     = length(kubectl_manifest.monitoring) == 4 && contains(keys(kubectl_manifest.monitoring), "NetworkPolicy/monitoring/default-deny-ingress")
    error_message = "The monitoring namespace's NetworkPolicies are not applied."
  }
  assert {
    condition = one([
      for e in yamldecode(kubectl_manifest.kafka_base["Deployment/kafka/kafdrop"].yaml_body).spec.template.spec.containers[0].env :
      e.value if e.name == "MANAGEMENT_ENDPOINTS_WEB_EXPOSURE_INCLUDE"
    ]) == "health"
    error_message = "Kafdrop must expose the health actuator only."
  }
  assert {
    condition     = yamldecode(kubectl_manifest.kafka_cluster["KafkaNodePool/kafka/dual-role"].yaml_body).spec.template.pod.topologySpreadConstraints[0].topologyKey == "kubernetes.io/hostname"
    error_message = "The Kafka nodes are not spread over the VMs."
  }
  assert {
    condition = alltrue(flatten([
      for acl in yamldecode(kubectl_manifest.kafka_entities["KafkaUser/kafka/tracepipe-replay"].yaml_body).spec.authorization.acls :
      [!contains(acl.operations, "Create"), !contains(acl.operations, "IdempotentWrite")]
    ]))
    error_message = "The replayer needs neither topic Create nor cluster IdempotentWrite."
  }
  assert {
    condition     = length(kubectl_manifest.tracepipe) == 7 && strcontains(kubectl_manifest.tracepipe["Job/tracepipe/tracepipe-replay"].yaml_body, "image: europe-west1-docker.pkg.dev/example-project/tracepipe/tracepipe:9.9.9")
    error_message = "The tracepipe workloads are not rendered with the image."
  }
}
