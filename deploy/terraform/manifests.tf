# The YAML of deploy/k8s, one kubectl_manifest per object (local.kafka_manifests
# and local.tracepipe_manifests in locals.tf):
#
#   kafka/      always: Kafka cluster, topics, users, Kafdrop, NetworkPolicies
#   tracepipe/  once var.tracepipe_image is set (the image must be pushed first)

resource "kubectl_manifest" "kafka" {
  for_each = local.kafka_manifests

  yaml_body        = each.value
  wait_for_rollout = false

  depends_on = [
    helm_release.strimzi,
    kubernetes_secret_v1.kafka_cluster_ca_cert,
    kubernetes_secret_v1.kafka_cluster_ca_key,
    kubernetes_secret_v1.kafka_user_password,
  ]
}

resource "kubectl_manifest" "tracepipe" {
  for_each = { for key, doc in local.tracepipe_manifests : key => doc if var.tracepipe_image != "" }

  yaml_body        = each.value
  wait_for_rollout = false
  # A Job's pod template is immutable: a changed Job is replaced (= a new replay).
  force_new = startswith(each.key, "Job/")

  depends_on = [
    kubectl_manifest.kafka,
    kubernetes_secret_v1.kafka_ca_for_clients,
    kubernetes_secret_v1.kafka_user_client,
  ]
}
