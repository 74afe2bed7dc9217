# Namespaces kafka, monitoring, tracepipe and spark, with the names and labels of
# deploy/k8s/namespaces.yaml (local.namespaces in locals.tf).

resource "kubernetes_namespace_v1" "this" {
  for_each = local.namespaces

  metadata {
    name   = each.key
    labels = each.value
  }

  depends_on = [google_container_node_pool.default]
}
