# Every value derived from the repository's files, in one provider-free file.
#
# tests/deploy/test_terraform.py evaluates this file (with variables.tf) using
# the real `terraform` binary and no provider, and compares the result with the
# YAML files themselves: keep resources and data sources out of this file.

locals {
  k8s_dir     = "${path.module}/../k8s"
  grafana_dir = "${path.module}/../grafana"

  # ------------------------------------------------------------ Google Cloud
  pods_range_name     = "${var.cluster_name}-pods"
  services_range_name = "${var.cluster_name}-services"

  # Kubernetes labels of the nodes. Keys under kubernetes.io/ or k8s.io/ (subdomains too)
  # are reserved: GKE rejects the node pool (tests/deploy checks this map).
  node_labels = {
    "tracepipe.io/part-of" = "tracepipe"
  }

  # ------------------------------------------------------------ namespaces
  # Names and labels of deploy/k8s/namespaces.yaml (one source of truth for the
  # Terraform and the kubectl paths).
  namespace_documents = [
    for doc in split("\n---\n", file("${local.k8s_dir}/namespaces.yaml")) : yamldecode(doc)
    if try(yamldecode(doc).kind, null) == "Namespace"
  ]
  namespaces = { for ns in local.namespace_documents : ns.metadata.name => ns.metadata.labels }

  # ------------------------------------------------------------ Kafka clients
  kafka_cluster   = "kafka-cluster"
  kafka_bootstrap = "${local.kafka_cluster}-kafka-bootstrap.kafka.svc:9093"

  # KafkaUser name => namespace of the client that logs in with it
  # (must match deploy/k8s/kafka/kafka-users.yaml; checked by tests/deploy).
  kafka_clients = {
    "tracepipe-replay"    = "tracepipe"
    "tracepipe-aggregate" = "tracepipe"
    "spark"               = "spark"
  }
  kafka_ca_namespaces = toset(distinct(values(local.kafka_clients)))

  # ------------------------------------------------------------ deploy/k8s documents
  # Terraform reads the `resources:` list of each sub-kustomization (the same files
  # `kubectl apply -k` uses) and splits the files into documents, keyed
  # "Kind/namespace/name".
  kafka_kustomization      = yamldecode(file("${local.k8s_dir}/kafka/kustomization.yaml"))
  tracepipe_kustomization  = yamldecode(file("${local.k8s_dir}/tracepipe/kustomization.yaml"))
  monitoring_kustomization = yamldecode(file("${local.k8s_dir}/monitoring/kustomization.yaml"))

  kafka_documents = flatten([
    for f in local.kafka_kustomization.resources : [
      for doc in split("\n---\n", file("${local.k8s_dir}/kafka/${f}")) : doc
      if try(yamldecode(doc).kind, null) != null
    ]
  ])

  tracepipe_documents = flatten([
    for f in local.tracepipe_kustomization.resources : [
      for doc in split("\n---\n", file("${local.k8s_dir}/tracepipe/${f}")) : doc
      if try(yamldecode(doc).kind, null) != null
    ]
  ])

  monitoring_documents = flatten([
    for f in local.monitoring_kustomization.resources : [
      for doc in split("\n---\n", file("${local.k8s_dir}/monitoring/${f}")) : doc
      if try(yamldecode(doc).kind, null) != null
    ]
  ])

  monitoring_manifests = {
    for doc in local.monitoring_documents :
    "${yamldecode(doc).kind}/${try(yamldecode(doc).metadata.namespace, "-")}/${yamldecode(doc).metadata.name}" => doc
  }

  kafka_file_manifests = {
    for doc in local.kafka_documents :
    "${yamldecode(doc).kind}/${try(yamldecode(doc).metadata.namespace, "-")}/${yamldecode(doc).metadata.name}" => doc
  }

  # The node count, replication factor and min.insync.replicas come from the variables (their
  # defaults are the files' values, applied then unchanged).
  kafka_replication_config = {
    "offsets.topic.replication.factor"                 = var.kafka_replication_factor
    "transaction.state.log.replication.factor"         = var.kafka_replication_factor
    "transaction.state.log.min.isr"                    = var.kafka_min_insync_replicas
    "share.coordinator.state.topic.replication.factor" = var.kafka_replication_factor
    "share.coordinator.state.topic.min.isr"            = var.kafka_min_insync_replicas
    "default.replication.factor"                       = var.kafka_replication_factor
    "min.insync.replicas"                              = var.kafka_min_insync_replicas
  }
  kafka_manifests = {
    for key, doc in local.kafka_file_manifests : key => (
      split("/", key)[0] == "KafkaNodePool" ? yamlencode(merge(yamldecode(doc), {
        spec = merge(yamldecode(doc).spec, { replicas = var.kafka_nodes })
      })) :
      split("/", key)[0] == "KafkaTopic" ? yamlencode(merge(yamldecode(doc), {
        spec = merge(yamldecode(doc).spec, {
          replicas = var.kafka_replication_factor
          config   = merge(yamldecode(doc).spec.config, { "min.insync.replicas" = var.kafka_min_insync_replicas })
        })
      })) :
      split("/", key)[0] == "Kafka" ? yamlencode(merge(yamldecode(doc), {
        spec = merge(yamldecode(doc).spec, {
          kafka = merge(yamldecode(doc).spec.kafka, {
            config = merge(yamldecode(doc).spec.kafka.config, local.kafka_replication_config)
          })
        })
      })) :
      doc
    )
  }

  # Three stages, so that `terraform destroy` takes them down in the reverse order, each
  # waiting until its objects are gone (manifests.tf):
  #   1. entities (KafkaTopic, KafkaUser): the Topic Operator must still run to delete the
  #      topics and drop its `strimzi.io/topic-operator` finalizer;
  #   2. cluster (Kafka, KafkaNodePool): the Cluster Operator must still run;
  #   3. base (ConfigMap, NetworkPolicies, Kafdrop), then the operator's Helm release.
  kafka_cluster_kinds = ["Kafka", "KafkaNodePool"]
  kafka_entity_kinds  = ["KafkaTopic", "KafkaUser"]

  kafka_manifest_stages = {
    for key, doc in local.kafka_manifests : key => (
      contains(local.kafka_entity_kinds, split("/", key)[0]) ? "entities" :
      contains(local.kafka_cluster_kinds, split("/", key)[0]) ? "cluster" : "base"
    )
  }
  kafka_base_manifests     = { for key, doc in local.kafka_manifests : key => doc if local.kafka_manifest_stages[key] == "base" }
  kafka_cluster_manifests  = { for key, doc in local.kafka_manifests : key => doc if local.kafka_manifest_stages[key] == "cluster" }
  kafka_entities_manifests = { for key, doc in local.kafka_manifests : key => doc if local.kafka_manifest_stages[key] == "entities" }

  tracepipe_replay_settings = {
    TRACE_PARTS  = tostring(var.trace_parts)
    REPLAY_SPEED = tostring(var.replay_speed)
  }

  # The image `tracepipe:<tag>` becomes var.tracepipe_image (what kustomize's
  # `images:` does on the kubectl path), and the ConfigMap tracepipe-replay takes
  # TRACE_PARTS / REPLAY_SPEED from the variables.
  tracepipe_manifests = {
    for doc in local.tracepipe_documents :
    "${yamldecode(doc).kind}/${try(yamldecode(doc).metadata.namespace, "-")}/${yamldecode(doc).metadata.name}" => (
      yamldecode(doc).kind == "ConfigMap" && yamldecode(doc).metadata.name == "tracepipe-replay"
      ? yamlencode(merge(yamldecode(doc), { data = merge(yamldecode(doc).data, local.tracepipe_replay_settings) }))
      : replace(doc, "/image: tracepipe:\\S+/", "image: ${var.tracepipe_image}")
    )
  }

  # ------------------------------------------------------------ monitoring
  prometheus_url  = "http://prometheus-server.monitoring.svc.cluster.local"
  pushgateway_url = "http://prometheus-prometheus-pushgateway.monitoring.svc.cluster.local:9091"

  grafana_admin_secret         = "grafana-admin"
  grafana_dashboards_configmap = "grafana-dashboards-tracepipe"

  strimzi_values = {
    # The operator watches its own namespace (kafka) only.
    watchAnyNamespace = false
    logLevel          = "INFO"
    # Strimzi's generated NetworkPolicies open the metrics port (9404) and the Entity
    # Operator's health ports to every source, and policies add up: no policy of ours could
    # narrow them. The complete set is in k8s/kafka/networkpolicies.yaml instead.
    generateNetworkPolicy = false
  }

  prometheus_values = {
    server = {
      global = {
        scrape_interval     = var.prometheus_scrape_interval
        scrape_timeout      = "5s"
        evaluation_interval = "1m"
      }
      retention = var.prometheus_retention
      persistentVolume = {
        enabled = true
        size    = var.prometheus_storage_size
      }
      service = {
        type = "ClusterIP"
      }
      resources = {
        requests = { cpu = "100m", memory = "512Mi" }
        limits   = { memory = "1536Mi" }
      }
    }
    alertmanager = {
      enabled = false
    }
    # Target of the Spark job's push_to_gateway (job="spark_job_metrics"). The
    # chart's scrape job "prometheus-pushgateway" (honor_labels: true) keeps the
    # pushed job label.
    "prometheus-pushgateway" = {
      enabled = true
      service = {
        type = "ClusterIP"
      }
      serviceAnnotations = {
        "prometheus.io/probe" = "pushgateway"
      }
    }
    "kube-state-metrics" = {
      enabled = true
    }
    "prometheus-node-exporter" = {
      enabled = true
    }
  }

  # Grafana is provisioned from deploy/grafana (one source of truth):
  #   provisioning/datasources/prometheus.yaml -> /etc/grafana/provisioning/datasources/
  #   provisioning/dashboards/tracepipe.yaml   -> /etc/grafana/provisioning/dashboards/
  #   dashboards/tracepipe.json -> ConfigMap mounted at /var/lib/grafana/dashboards/tracepipe
  #     (dashboardsConfigMaps key "tracepipe"), the provider's path.
  grafana_values = {
    admin = {
      existingSecret = local.grafana_admin_secret
      userKey        = "admin-user"
      passwordKey    = "admin-password"
    }
    # ${PROMETHEUS_URL} in the datasource provisioning file
    env = {
      PROMETHEUS_URL = local.prometheus_url
    }
    datasources = {
      "prometheus.yaml" = yamldecode(file("${local.grafana_dir}/provisioning/datasources/prometheus.yaml"))
    }
    dashboardProviders = {
      "tracepipe.yaml" = yamldecode(file("${local.grafana_dir}/provisioning/dashboards/tracepipe.yaml"))
    }
    dashboardsConfigMaps = {
      tracepipe = local.grafana_dashboards_configmap
    }
    service = {
      type = "ClusterIP"
      port = 80
    }
    persistence = {
      enabled = false
    }
    testFramework = {
      enabled = false
    }
    "grafana.ini" = {
      analytics = {
        reporting_enabled = false
        check_for_updates = false
      }
      users = {
        allow_sign_up = false
      }
      "auth.anonymous" = {
        enabled = false
      }
    }
    resources = {
      requests = { cpu = "50m", memory = "128Mi" }
      limits   = { memory = "512Mi" }
    }
  }
}
