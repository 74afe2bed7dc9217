# The YAML of deploy/k8s, one kubectl_manifest per object (locals.tf):
#
#   kafka/       always, in three stages (below)
#   monitoring/  always: the NetworkPolicies of the monitoring namespace
#   tracepipe/   once var.tracepipe_image is set (the image must be pushed first)
#
# Kafka objects are created base -> cluster -> entities and, because each stage depends on
# the one before, destroyed entities -> cluster -> base -> Strimzi's Helm release. `wait`
# makes each deletion block until the object is really gone (finalizers done; for the Kafka
# cluster, a foreground deletion of its pods and volumes), so the operators are still running
# while they clean up: KafkaTopics carry the Topic Operator's `strimzi.io/topic-operator`
# finalizer, and deleting them together with the operator left them, and with them the
# `kafka` namespace, stuck in Terminating forever.

resource "kubectl_manifest" "kafka_base" {
  for_each = local.kafka_base_manifests

  yaml_body        = each.value
  wait_for_rollout = false

  depends_on = [
    helm_release.strimzi,
    kubernetes_secret_v1.kafka_cluster_ca_cert,
    kubernetes_secret_v1.kafka_cluster_ca_key,
    kubernetes_secret_v1.kafka_user_password,
  ]
}

resource "kubectl_manifest" "kafka_cluster" {
  for_each = local.kafka_cluster_manifests

  yaml_body        = each.value
  wait_for_rollout = false
  wait             = true

  depends_on = [
    helm_release.strimzi,
    kubectl_manifest.kafka_base,
    kubernetes_secret_v1.kafka_cluster_ca_cert,
    kubernetes_secret_v1.kafka_cluster_ca_key,
    kubernetes_secret_v1.kafka_user_password,
  ]
}

resource "kubectl_manifest" "kafka_entities" {
  for_each = local.kafka_entities_manifests

  yaml_body        = each.value
  wait_for_rollout = false
  wait             = true

  depends_on = [kubectl_manifest.kafka_cluster]
}

resource "kubectl_manifest" "monitoring" {
  for_each = local.monitoring_manifests

  yaml_body        = each.value
  wait_for_rollout = false

  depends_on = [helm_release.prometheus, helm_release.grafana]
}

resource "kubectl_manifest" "tracepipe" {
  for_each = { for key, doc in local.tracepipe_manifests : key => doc if var.tracepipe_image != "" }

  yaml_body        = each.value
  wait_for_rollout = false
  # A Job's pod template is immutable: a changed Job is replaced (= a new replay).
  force_new = startswith(each.key, "Job/")

  depends_on = [
    kubectl_manifest.kafka_entities,
    kubernetes_secret_v1.kafka_ca_for_clients,
    kubernetes_secret_v1.kafka_user_client,
  ]
}
