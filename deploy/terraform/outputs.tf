output "get_credentials_command" {
  description = "Configure kubectl for the cluster."
  value       = "gcloud container clusters get-credentials ${google_container_cluster.this.name} --zone ${var.zone} --project ${var.project_id}${var.enable_private_endpoint ? " --internal-ip" : ""}"
}

output "cluster_name" {
  value = google_container_cluster.this.name
}

output "artifact_registry" {
  description = "Docker repository for the tracepipe image (configure Docker with: gcloud auth configure-docker REGION-docker.pkg.dev)."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.tracepipe.repository_id}"
}

output "tracepipe_image_example" {
  description = "A value for -var tracepipe_image once the image is pushed."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.tracepipe.repository_id}/tracepipe:0.1.0"
}

output "kafka_bootstrap" {
  description = "In-cluster bootstrap address: TLS + SCRAM-SHA-512 only."
  value       = local.kafka_bootstrap
}

output "kafka_cluster_ca_cert" {
  description = "PEM certificate of the Kafka cluster CA (public) for clients' --ssl-ca-location."
  value       = tls_self_signed_cert.kafka_cluster_ca.cert_pem
}

output "kafka_client_secrets" {
  description = "Secret (key `password`) holding each KafkaUser's password, per client namespace."
  value       = { for user, ns in local.kafka_clients : user => "${ns}/${user}" }
}

output "pushgateway_url" {
  description = "In-cluster Pushgateway URL for the Spark job."
  value       = local.pushgateway_url
}

output "prometheus_url" {
  description = "In-cluster Prometheus URL."
  value       = local.prometheus_url
}

output "port_forward_commands" {
  description = "Reach the UIs on localhost (nothing is exposed publicly)."
  value = {
    kafdrop    = "kubectl -n kafka port-forward svc/kafdrop 9000:9000   # http://localhost:9000"
    prometheus = "kubectl -n monitoring port-forward svc/prometheus-server 9090:80   # http://localhost:9090"
    grafana    = "kubectl -n monitoring port-forward svc/grafana 3000:80   # http://localhost:3000 (user admin)"
  }
}

output "grafana_admin_password" {
  description = "Grafana admin password (also in Secret monitoring/grafana-admin)."
  value       = kubernetes_secret_v1.grafana_admin.data["admin-password"]
  sensitive   = true
}
