# ---------------------------------------------------------------- Google Cloud

variable "project_id" {
  description = "Google Cloud project ID to deploy into (required; never hard-coded)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project ID (6-30 lowercase letters, digits, hyphens)."
  }
}

variable "region" {
  description = "Region of the Artifact Registry repository (and of the zone below)."
  type        = string
  default     = "us-central1"
}

variable "zone" {
  description = "Zone of the (zonal) GKE cluster."
  type        = string
  default     = "us-central1-a"
}

variable "cluster_name" {
  description = "Name of the GKE cluster."
  type        = string
  default     = "tracepipe"
}

variable "node_count" {
  description = "Number of nodes of the cluster's node pool."
  type        = number
  default     = 3

  validation {
    condition     = var.node_count >= 1
    error_message = "node_count must be at least 1."
  }
}

variable "machine_type" {
  description = "Machine type of the nodes."
  type        = string
  default     = "e2-standard-2"
}

variable "node_disk_size_gb" {
  description = "Boot disk size of each node, in GB."
  type        = number
  default     = 50
}

variable "release_channel" {
  description = "GKE release channel (RAPID, REGULAR or STABLE)."
  type        = string
  default     = "REGULAR"

  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE"], var.release_channel)
    error_message = "release_channel must be RAPID, REGULAR or STABLE."
  }
}

variable "master_authorized_networks" {
  description = "CIDR ranges allowed to reach the Kubernetes API endpoint (required, at least one; e.g. your workstation's address as a /32). Terraform itself talks to the API, so the machine running it must be inside one of them."
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  # No default: an empty list would leave the endpoint open to every address.

  validation {
    condition     = length(var.master_authorized_networks) > 0
    error_message = "master_authorized_networks must name at least one network: the control-plane endpoint is never left open to every address."
  }

  validation {
    condition = alltrue([
      for n in var.master_authorized_networks :
      can(cidrhost(n.cidr_block, 0)) && try(tonumber(split("/", n.cidr_block)[1]) >= 8, false)
    ])
    error_message = "Each master_authorized_networks cidr_block must be an IPv4 CIDR of prefix length 8 or more (a /0 range is no restriction)."
  }
}

variable "enable_private_endpoint" {
  description = "Disable the control plane's public endpoint altogether (the API is then reachable only from the VPC: run Terraform and kubectl from a machine inside it, with master_authorized_networks naming internal ranges)."
  type        = bool
  default     = false
}

variable "subnet_cidr" {
  description = "Primary range of the nodes' subnet (the cluster's own VPC; internal addresses only)."
  type        = string
  default     = "10.10.0.0/22"

  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0))
    error_message = "subnet_cidr must be an IPv4 CIDR."
  }
}

variable "pods_cidr" {
  description = "Secondary range of the subnet for Pod addresses."
  type        = string
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrhost(var.pods_cidr, 0))
    error_message = "pods_cidr must be an IPv4 CIDR."
  }
}

variable "services_cidr" {
  description = "Secondary range of the subnet for Service addresses."
  type        = string
  default     = "10.30.0.0/20"

  validation {
    condition     = can(cidrhost(var.services_cidr, 0))
    error_message = "services_cidr must be an IPv4 CIDR."
  }
}

variable "deletion_protection" {
  description = "Refuse to destroy the GKE cluster while true."
  type        = bool
  default     = false
}

variable "artifact_repository_id" {
  description = "Artifact Registry (Docker) repository for the tracepipe image."
  type        = string
  default     = "tracepipe"
}

# ---------------------------------------------------------------- Helm charts (pinned)

variable "strimzi_chart_version" {
  description = "strimzi-kafka-operator chart version. 0.48.x supports Kafka 4.0.x and 4.1.x in KRaft mode (the Kafka CR uses 4.1.0)."
  type        = string
  default     = "0.48.0"
}

variable "prometheus_chart_version" {
  description = "prometheus-community/prometheus chart version (Prometheus server + Pushgateway subchart)."
  type        = string
  default     = "27.45.0"
}

variable "grafana_chart_repository" {
  description = "Helm repository of the grafana chart. The chart at https://grafana.github.io/helm-charts (grafana/grafana) is frozen at 10.5.15; its maintained continuation, same values, is grafana-community/grafana."
  type        = string
  default     = "https://grafana-community.github.io/helm-charts"
}

variable "grafana_chart_version" {
  description = "grafana chart version (11.6.1 = Grafana 12.x)."
  type        = string
  default     = "11.6.1"
}

# ---------------------------------------------------------------- Monitoring

variable "prometheus_retention" {
  description = "How long Prometheus keeps samples."
  type        = string
  default     = "15d"
}

variable "prometheus_storage_size" {
  description = "Size of Prometheus' persistent volume."
  type        = string
  default     = "20Gi"
}

variable "prometheus_scrape_interval" {
  description = "Prometheus scrape interval (the dashboard refreshes every 5s)."
  type        = string
  default     = "10s"

  validation {
    condition     = can(regex("^([5-9]|[1-5][0-9])s$|^[1-9][0-9]*m$", var.prometheus_scrape_interval))
    error_message = "prometheus_scrape_interval must be between 5s and 59s, or whole minutes (e.g. 1m)."
  }
}

variable "grafana_admin_password" {
  description = "Grafana admin password. Leave null to generate one (read it with `terraform output -raw grafana_admin_password` or from the Secret monitoring/grafana-admin)."
  type        = string
  default     = null
  sensitive   = true
}

# ---------------------------------------------------------------- Kafka

variable "kafka_ca_validity_hours" {
  description = "Validity of the Kafka cluster CA created by Terraform (renew it before it expires: see deploy/README.md)."
  type        = number
  default     = 43800 # 5 years
}

# ---------------------------------------------------------------- tracepipe

variable "tracepipe_image" {
  description = "Full reference of the pushed tracepipe image, e.g. us-central1-docker.pkg.dev/PROJECT/tracepipe/tracepipe:0.1.0. Empty: the tracepipe workloads (replay Job, aggregator) are not deployed yet."
  type        = string
  default     = ""

  validation {
    condition     = var.tracepipe_image == "" || can(regex("^[^\\s]+(:[A-Za-z0-9_][A-Za-z0-9_.-]*|@sha256:[0-9a-f]{64})$", var.tracepipe_image))
    error_message = "tracepipe_image must carry an explicit tag or digest."
  }

  validation {
    condition     = !can(regex(":latest$", var.tracepipe_image))
    error_message = "Pin tracepipe_image to a version tag or digest, not :latest."
  }
}

variable "trace_parts" {
  description = "How many of the 500 parts of job_events and task_events the replay Job fetches and replays; machine_events (a single part) is always fetched whole and replayed up to the end of those parts."
  type        = number
  default     = 10

  validation {
    condition     = var.trace_parts >= 1 && var.trace_parts <= 500 && floor(var.trace_parts) == var.trace_parts
    error_message = "trace_parts must be an integer in 1..500."
  }
}

variable "replay_speed" {
  description = "tracepipe replay --speed: trace time runs this many times faster than wall time."
  type        = number
  default     = 60
}

variable "kafka_nodes" {
  description = "Kafka nodes (each a KRaft controller and broker). Three keep a quorum when one is lost."
  type        = number
  default     = 3

  validation {
    condition     = var.kafka_nodes >= 1 && floor(var.kafka_nodes) == var.kafka_nodes
    error_message = "kafka_nodes must be a whole number of at least 1."
  }
}

variable "kafka_replication_factor" {
  description = "Replicas of every topic, internal ones included."
  type        = number
  default     = 3

  validation {
    condition     = var.kafka_replication_factor >= 1 && var.kafka_replication_factor <= var.kafka_nodes
    error_message = "kafka_replication_factor must be between 1 and kafka_nodes: Kafka cannot place more replicas than it has brokers."
  }
}

variable "kafka_min_insync_replicas" {
  description = "min.insync.replicas: replicas that must have a write before it is acknowledged (acks=all)."
  type        = number
  default     = 2

  validation {
    condition     = var.kafka_min_insync_replicas >= 1 && var.kafka_min_insync_replicas <= var.kafka_replication_factor
    error_message = "kafka_min_insync_replicas must be between 1 and kafka_replication_factor."
  }
}
