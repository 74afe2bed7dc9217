# Kafka credentials that must exist in more than one namespace.
#
# Pods can only read Secrets of their own namespace, but Strimzi keeps the
# cluster CA and the users' passwords in `kafka`. Terraform therefore creates them
# itself and writes each one where it is needed:
#
#   * the cluster CA (Strimzi signs the broker certificates with it;
#     Kafka CR: spec.clusterCa.generateCertificateAuthority: false):
#       kafka/kafka-cluster-cluster-ca       (ca.key, read by Strimzi only)
#       kafka/kafka-cluster-cluster-ca-cert  (ca.crt)
#       tracepipe/ and spark/ kafka-cluster-cluster-ca-cert (ca.crt)
#   * a SCRAM-SHA-512 password per client that runs outside `kafka`:
#       kafka/<user>-scram                   (password; KafkaUser spec.authentication.password)
#       <client namespace>/<user>            (password, sasl.jaas.config)
#
# The CA private key and the passwords are stored in the Terraform state: keep
# the state private (e.g. a GCS backend with restricted access).

# (local.kafka_cluster, local.kafka_clients: locals.tf)

resource "tls_private_key" "kafka_cluster_ca" {
  algorithm = "RSA"
  rsa_bits  = 4096
}

resource "tls_self_signed_cert" "kafka_cluster_ca" {
  private_key_pem       = tls_private_key.kafka_cluster_ca.private_key_pem
  is_ca_certificate     = true
  validity_period_hours = var.kafka_ca_validity_hours

  subject {
    organization = "tracepipe"
    common_name  = "${local.kafka_cluster}-cluster-ca"
  }

  allowed_uses = [
    "cert_signing",
    "crl_signing",
    "digital_signature",
  ]
}

resource "kubernetes_secret_v1" "kafka_cluster_ca_key" {
  metadata {
    name      = "${local.kafka_cluster}-cluster-ca"
    namespace = kubernetes_namespace_v1.this["kafka"].metadata[0].name
    labels = {
      "strimzi.io/kind"    = "Kafka"
      "strimzi.io/cluster" = local.kafka_cluster
    }
    annotations = {
      "strimzi.io/ca-key-generation" = "0"
    }
  }

  data = {
    "ca.key" = tls_private_key.kafka_cluster_ca.private_key_pem_pkcs8
  }

  # Strimzi owns the Secret once the cluster runs (it may add keys/annotations);
  # replacing a CA follows Strimzi's renewal procedure (deploy/README.md).
  lifecycle {
    ignore_changes = [data, metadata[0].annotations, metadata[0].labels]
  }
}

resource "kubernetes_secret_v1" "kafka_cluster_ca_cert" {
  metadata {
    name      = "${local.kafka_cluster}-cluster-ca-cert"
    namespace = kubernetes_namespace_v1.this["kafka"].metadata[0].name
    labels = {
      "strimzi.io/kind"    = "Kafka"
      "strimzi.io/cluster" = local.kafka_cluster
    }
    annotations = {
      "strimzi.io/ca-cert-generation" = "0"
    }
  }

  data = {
    "ca.crt" = tls_self_signed_cert.kafka_cluster_ca.cert_pem
  }

  lifecycle {
    ignore_changes = [data, metadata[0].annotations, metadata[0].labels]
  }
}

# The CA certificate (public) for the clients' namespaces.
resource "kubernetes_secret_v1" "kafka_ca_for_clients" {
  for_each = local.kafka_ca_namespaces

  metadata {
    name      = "${local.kafka_cluster}-cluster-ca-cert"
    namespace = kubernetes_namespace_v1.this[each.value].metadata[0].name
    labels = {
      "app.kubernetes.io/part-of" = "tracepipe"
    }
  }

  data = {
    "ca.crt" = tls_self_signed_cert.kafka_cluster_ca.cert_pem
  }
}

resource "random_password" "kafka_user" {
  for_each = local.kafka_clients

  length  = 32
  special = false
}

# Read by Strimzi's User Operator (KafkaUser spec.authentication.password).
resource "kubernetes_secret_v1" "kafka_user_password" {
  for_each = local.kafka_clients

  metadata {
    name      = "${each.key}-scram"
    namespace = kubernetes_namespace_v1.this["kafka"].metadata[0].name
    labels = {
      "app.kubernetes.io/part-of" = "tracepipe"
    }
  }

  data = {
    password = random_password.kafka_user[each.key].result
  }
}

# Read by the client: env TRACEPIPE_SASL_PASSWORD from key `password`
# (Java clients such as Spark can use `sasl.jaas.config` as is).
resource "kubernetes_secret_v1" "kafka_user_client" {
  for_each = local.kafka_clients

  metadata {
    name      = each.key
    namespace = kubernetes_namespace_v1.this[each.value].metadata[0].name
    labels = {
      "app.kubernetes.io/part-of" = "tracepipe"
    }
  }

  data = {
    password           = random_password.kafka_user[each.key].result
    "sasl.jaas.config" = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"${each.key}\" password=\"${random_password.kafka_user[each.key].result}\";"
  }
}
