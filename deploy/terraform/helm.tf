# Operators and monitoring, installed with pinned Helm charts (values in locals.tf):
#   * Strimzi (namespace kafka): the Kafka operator and its CRDs,
#   * Prometheus + Pushgateway (namespace monitoring),
#   * Grafana (namespace monitoring), provisioned from deploy/grafana.
# Every Service stays ClusterIP: use kubectl port-forward (deploy/README.md).

resource "helm_release" "strimzi" {
  name       = "strimzi"
  namespace  = kubernetes_namespace_v1.this["kafka"].metadata[0].name
  repository = "https://strimzi.io/charts/"
  chart      = "strimzi-kafka-operator"
  version    = var.strimzi_chart_version

  values = [yamlencode(local.strimzi_values)]
}

resource "helm_release" "prometheus" {
  name       = "prometheus"
  namespace  = kubernetes_namespace_v1.this["monitoring"].metadata[0].name
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "prometheus"
  version    = var.prometheus_chart_version

  values = [yamlencode(local.prometheus_values)]
}

# ------------------------------------------------------------------ Grafana

resource "random_password" "grafana_admin" {
  length           = 24
  special          = true
  override_special = "-_"
}

resource "kubernetes_secret_v1" "grafana_admin" {
  metadata {
    name      = local.grafana_admin_secret
    namespace = kubernetes_namespace_v1.this["monitoring"].metadata[0].name
    labels = {
      "app.kubernetes.io/part-of" = "tracepipe"
    }
  }

  data = {
    "admin-user"     = "admin"
    "admin-password" = coalesce(var.grafana_admin_password, random_password.grafana_admin.result)
  }
}

resource "kubernetes_config_map_v1" "grafana_dashboards" {
  metadata {
    name      = local.grafana_dashboards_configmap
    namespace = kubernetes_namespace_v1.this["monitoring"].metadata[0].name
    labels = {
      "app.kubernetes.io/part-of" = "tracepipe"
    }
  }

  data = {
    "tracepipe.json" = file("${local.grafana_dir}/dashboards/tracepipe.json")
  }
}

resource "helm_release" "grafana" {
  name       = "grafana"
  namespace  = kubernetes_namespace_v1.this["monitoring"].metadata[0].name
  repository = var.grafana_chart_repository
  chart      = "grafana"
  version    = var.grafana_chart_version

  values = [yamlencode(local.grafana_values)]

  depends_on = [
    helm_release.prometheus,
    kubernetes_secret_v1.grafana_admin,
    kubernetes_config_map_v1.grafana_dashboards,
  ]
}
